#![no_main]
use berth_fuzz::entries;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if data.len() <= entries::MAX_INPUT {
        entries::chart_archive(data)
    }
});
