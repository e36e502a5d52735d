#![no_main]
libfuzzer_sys::fuzz_target!(
    |data: &[u8]| gatehouse_fuzz_checks::check("oci_request").expect("a check")(data)
);
