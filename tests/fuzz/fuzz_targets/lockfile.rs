#![no_main]
libfuzzer_sys::fuzz_target!(
    |data: &[u8]| gatehouse_fuzz_checks::check("lockfile").expect("a check")(data)
);
