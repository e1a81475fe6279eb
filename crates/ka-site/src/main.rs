fn main() {
    ka_core::error::main_with("ka-site", ka_site::run)
}
