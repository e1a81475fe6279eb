//! The qemu test host through its Rust harness (`ka_testkit::qemu`):
//! boot, strict SSH, a reboot that power-cycles into a new boot id.
//! Ignored by `cargo test` (root, minutes of TCG); `make qemu` runs it with
//! `--ignored`.

use ka_testkit::qemu;

#[test]
#[ignore = "boots qemu (root, minutes): make qemu"]
fn guest_boots_answers_ssh_and_power_cycles_on_reboot() {
    let guest = qemu::Guest::start();
    assert_eq!(guest.ssh_ok("uname -r"), guest.kernel_release);
    let first = guest.boot_id();
    let boot = guest.current_boot();
    // the connection may drop before ssh sees the command's status
    let _ = guest.ssh("systemctl reboot");
    guest
        .wait_ssh(boot + 1, qemu::BOOT_TIMEOUT)
        .unwrap_or_else(|e| panic!("no SSH after the reboot: {e}"));
    assert_ne!(guest.boot_id(), first, "the reboot kept the boot id");
    let ended = guest.boots();
    assert_eq!(
        ended.last().map(|b| b.cause.as_str()),
        Some("reboot"),
        "{ended:?}"
    );
    match guest.transport("planck") {
        ka_schema::Transport::Ssh { port, user, .. } => {
            assert_eq!(port, guest.port);
            assert_eq!(user, "root");
        }
        other => panic!("not an SSH transport: {other:?}"),
    }
}
