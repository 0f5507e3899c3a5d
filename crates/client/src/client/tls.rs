//! The TLS crypto provider: rustls with `ring`.
//!
//! reqwest is built with `rustls-no-provider`, and this crate brings rustls'
//! `ring` provider: it needs no cmake and no C library beyond what `cc`
//! builds in seconds, where the default (`aws-lc-rs`) builds a C library with
//! cmake and doubled the crate's cold build. docs/development.md ("Build
//! times") measures both.

/// Installs rustls' `ring` provider as the process's default, unless a
/// provider was installed already (by the application, or an earlier call).
///
/// reqwest is built with `rustls-no-provider`, so that no C library needs
/// cmake to build: it takes the process default.
/// [`ClientBuilder::build`](super::ClientBuilder::build)
/// calls this; call it yourself before building a `reqwest::Client` of your
/// own to pass to
/// [`ClientBuilder::http_client`](super::ClientBuilder::http_client).
///
/// ```
/// assistant_stream::client::install_crypto_provider();
/// let http = reqwest::Client::new();
/// # let _ = http;
/// ```
pub fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Another thread may win the race; its provider is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}
