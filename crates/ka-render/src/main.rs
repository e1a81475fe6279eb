fn main() {
    ka_core::error::main_with("ka-render", ka_render::run)
}
