//! Runs one scenario against both backends, like every handler test should:
//! `<name>::in_memory` (handler tier) and `<name>::on_moto` (integration tier; skipped with a
//! printed reason when the local stack is not running).

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
                    if !tests::local_aws::available(concat!(module_path!(), "::on_moto")) {
                        return;
                    }
                    scenario(tests::app::TestApp::spawn(tests::app::Backend::Moto).await).await;
                }
            }
        )*
    };
}

/// Skips a moto-only test (with the reason printed) when the local stack is not running.
#[macro_export]
macro_rules! needs_moto {
    () => {
        if !tests::local_aws::available(module_path!()) {
            return;
        }
    };
}

/// [`both_backends!`] for apps with the knowledge sync tier ([`tests::app::TestApp::with_knowledge`]).
#[macro_export]
macro_rules! knowledge_backends {
    ($(async fn $name:ident($app:ident: TestApp) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                async fn scenario($app: tests::app::TestApp) $body

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn in_memory() {
                    scenario(tests::app::TestApp::with_knowledge(tests::app::Backend::Memory).await).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn on_moto() {
                    if !tests::local_aws::available(concat!(module_path!(), "::on_moto")) {
                        return;
                    }
                    scenario(tests::app::TestApp::with_knowledge(tests::app::Backend::Moto).await).await;
                }
            }
        )*
    };
}

/// [`both_backends!`] for apps with connection health ([`tests::app::TestApp::with_health`]).
#[macro_export]
macro_rules! health_backends {
    ($(async fn $name:ident($app:ident: TestApp) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                async fn scenario($app: tests::app::TestApp) $body

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn in_memory() {
                    scenario(tests::app::TestApp::with_health(tests::app::Backend::Memory).await).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn on_moto() {
                    if !tests::local_aws::available(concat!(module_path!(), "::on_moto")) {
                        return;
                    }
                    scenario(tests::app::TestApp::with_health(tests::app::Backend::Moto).await).await;
                }
            }
        )*
    };
}
