#![no_main]
libfuzzer_sys::fuzz_target!(
    |data: &[u8]| gatehouse_fuzz_checks::check("go_list").expect("a check")(data)
);
