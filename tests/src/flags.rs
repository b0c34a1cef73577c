//! The benchmarks' command lines: `--name N` counts, each with a default;
//! anything else prints the usage line and exits with 2.

/// The counts named by `flags` (name, default), read from the arguments.
pub fn counts<const N: usize>(program: &str, flags: [(&str, usize); N]) -> [usize; N] {
    let usage = || -> ! {
        let names: Vec<String> = flags.iter().map(|(f, _)| format!("[{f} N]")).collect();
        eprintln!("usage: {program} {}", names.join(" "));
        std::process::exit(2);
    };
    let mut values = flags.map(|(_, default)| default);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let Some(i) = flags.iter().position(|(f, _)| *f == a) else {
            usage()
        };
        values[i] = args
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| usage());
    }
    values
}
