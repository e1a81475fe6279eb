fn main() {
    ka_core::error::main_with("ka-status", ka_status::run)
}
