#![no_main]
libfuzzer_sys::fuzz_target!(
    |data: &[u8]| gatehouse_fuzz_checks::check("archive_layer").expect("a check")(data)
);
