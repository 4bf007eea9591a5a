//! Runs the fake API server until killed: `fakekube KUBECONFIG_OUT` writes a kubeconfig for it.

fn main() {
    let fake = berth_fakekube::FakeKube::start();
    let config = fake.kubeconfig("fake-token");
    match std::env::args().nth(1) {
        Some(path) => std::fs::write(&path, config).expect("write kubeconfig"),
        None => print!("{config}"),
    }
    eprintln!("fake API server on http://{}", fake.addr);
    loop {
        std::thread::park();
    }
}
