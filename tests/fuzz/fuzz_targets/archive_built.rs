#![no_main]
libfuzzer_sys::fuzz_target!(
    |data: &[u8]| gatehouse_fuzz_checks::check("archive_built").expect("a check")(data)
);
