//! Runs one scenario against both backends, like every handler test should:
//! `<name>::in_memory` (handler tier) and `<name>::on_moto` (integration tier).

#[macro_export]
macro_rules! both_backends {
    ($(async fn $name:ident($app:ident: TestApp) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                async fn scenario($app: tests::app::TestApp) $body

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn in_memory() {
                    scenario(tests::app::TestApp::spawn(tests::app::Backend::Memory).await).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn on_moto() {
                    scenario(tests::app::TestApp::spawn(tests::app::Backend::Moto).await).await;
                }
            }
        )*
    };
}
