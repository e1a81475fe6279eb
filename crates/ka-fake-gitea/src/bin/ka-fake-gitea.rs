//! `ka-fake-gitea --owner O --repo R --token-file F --port-file P --dump D`:
//! serve the fake Gitea on a free 127.0.0.1 port (written to P once it
//! listens) until killed, writing the repository to D after every request.
//! For tests in other processes (bats); Rust tests use the library directly.

use std::path::PathBuf;

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut owner, mut repo, mut token_file, mut port_file, mut dump) =
        (None, None, None, None, None);
    while let Some(a) = args.next() {
        let v = args.next();
        match (a.as_str(), v) {
            ("--owner", Some(v)) => owner = Some(v),
            ("--repo", Some(v)) => repo = Some(v),
            ("--token-file", Some(v)) => token_file = Some(PathBuf::from(v)),
            ("--port-file", Some(v)) => port_file = Some(PathBuf::from(v)),
            ("--dump", Some(v)) => dump = Some(PathBuf::from(v)),
            _ => usage(),
        }
    }
    let (Some(owner), Some(repo), Some(token_file), Some(port_file), Some(dump)) =
        (owner, repo, token_file, port_file, dump)
    else {
        usage()
    };
    let token = std::fs::read_to_string(&token_file).unwrap_or_else(|e| {
        eprintln!("ka-fake-gitea: {}: {e}", token_file.display());
        std::process::exit(2)
    });
    let fake = ka_fake_gitea::FakeGitea::start(&owner, &repo, token.trim());
    fake.dump_to(&dump);
    let tmp = port_file.with_extension("tmp");
    std::fs::write(&tmp, format!("{}\n", fake.port()))
        .and_then(|()| std::fs::rename(&tmp, &port_file))
        .unwrap_or_else(|e| {
            eprintln!("ka-fake-gitea: {}: {e}", port_file.display());
            std::process::exit(2)
        });
    // Serve until killed; bounded so a forgotten server goes away by itself.
    std::thread::sleep(std::time::Duration::from_secs(600));
}

fn usage() -> ! {
    eprintln!("usage: ka-fake-gitea --owner O --repo R --token-file F --port-file P --dump D");
    std::process::exit(2)
}
