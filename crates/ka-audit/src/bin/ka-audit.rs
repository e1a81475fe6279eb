fn main() {
    ka_core::error::main_with("ka-audit", ka_audit::run)
}
