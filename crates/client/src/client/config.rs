//! [`ClientBuilder`]: where the client connects and how it behaves.

use super::Client;
use super::retry::RetryPolicy;
use crate::error::{Error, Kind};
use reqwest::Url;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// The base URL of the OpenAI API.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

/// The `api-version` sent to Azure OpenAI unless you choose another (the
/// first version with Assistants v2).
pub const DEFAULT_AZURE_API_VERSION: &str = "2024-05-01-preview";

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(1);
const DEFAULT_MAX_RETRIES: u32 = 2;

/// A secret string whose `Debug` never shows it.
#[derive(Clone)]
pub(crate) struct Secret(String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// How requests prove who sends them.
#[derive(Clone, Debug)]
pub(crate) enum Auth {
    /// No credentials (a local server).
    None,
    /// `Authorization: Bearer <token>`: OpenAI keys, Azure Entra ID tokens.
    Bearer(Secret),
    /// `api-key: <key>`: Azure OpenAI keys.
    ApiKeyHeader(Secret),
}

/// What the client knows once built. Shared by all clones.
#[derive(Debug)]
pub(crate) struct Config {
    pub(crate) base_url: Url,
    pub(crate) headers: HeaderMap,
    pub(crate) api_version: Option<String>,
    pub(crate) deployment: Option<String>,
    pub(crate) timeout: Duration,
    pub(crate) poll_interval: Duration,
    pub(crate) retry: RetryPolicy,
    pub(crate) organization: Option<String>,
    pub(crate) project: Option<String>,
    pub(crate) auth_kind: &'static str,
}

/// Builds a [`Client`]: credentials, base URL, headers, timeouts, retries,
/// polling, Azure OpenAI.
///
/// [`Client::builder`] starts from the defaults; [`ClientBuilder::from_env`]
/// starts from the environment (as [`Client::new`] does);
/// [`ClientBuilder::azure`] starts an Azure OpenAI client.
///
/// ```
/// use assistant_stream::Client;
/// use std::time::Duration;
///
/// let client = Client::builder()
///     .api_key("sk-...")
///     .base_url("http://127.0.0.1:8080/v1")
///     .timeout(Duration::from_secs(30))
///     .max_retries(5)
///     .build()?;
/// assert!(!format!("{client:?}").contains("sk-..."));
/// # Ok::<(), assistant_stream::Error>(())
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct ClientBuilder {
    api_key: Option<Secret>,
    bearer_token: Option<Secret>,
    base_url: Option<String>,
    organization: Option<String>,
    project: Option<String>,
    headers: Vec<(String, Secret)>,
    timeout: Duration,
    connect_timeout: Duration,
    max_retries: u32,
    initial_retry_delay: Duration,
    max_retry_delay: Duration,
    poll_interval: Duration,
    http_client: Option<reqwest::Client>,
    azure: Option<AzureSettings>,
}

#[derive(Clone, Debug)]
struct AzureSettings {
    endpoint: String,
    api_version: String,
    deployment: Option<String>,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("api_key", &self.api_key)
            .field("bearer_token", &self.bearer_token)
            .field("base_url", &self.base_url)
            .field("organization", &self.organization)
            .field("project", &self.project)
            .field(
                "headers",
                &self
                    .headers
                    .iter()
                    .map(|(name, _)| name)
                    .collect::<Vec<_>>(),
            )
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("max_retries", &self.max_retries)
            .field("poll_interval", &self.poll_interval)
            .field("azure", &self.azure)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    /// A builder with the defaults: no credentials, [`DEFAULT_BASE_URL`],
    /// a 10-minute request timeout, a 10-second connect timeout, 2 retries,
    /// 1-second polls. Reads no environment variables.
    pub fn new() -> Self {
        ClientBuilder {
            api_key: None,
            bearer_token: None,
            base_url: None,
            organization: None,
            project: None,
            headers: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            max_retries: DEFAULT_MAX_RETRIES,
            initial_retry_delay: RetryPolicy::DEFAULT_INITIAL_DELAY,
            max_retry_delay: RetryPolicy::DEFAULT_MAX_DELAY,
            poll_interval: DEFAULT_POLL_INTERVAL,
            http_client: None,
            azure: None,
        }
    }

    /// A builder from the environment: `OPENAI_API_KEY`, `OPENAI_BASE_URL`,
    /// `OPENAI_ORG_ID` and `OPENAI_PROJECT_ID`, each optional (empty values
    /// count as unset).
    ///
    /// ```
    /// let client = assistant_stream::client::ClientBuilder::from_env()
    ///     .max_retries(0)
    ///     .build()?;
    /// # Ok::<(), assistant_stream::Error>(())
    /// ```
    pub fn from_env() -> Self {
        fn var(name: &str) -> Option<String> {
            std::env::var(name)
                .ok()
                .filter(|value| !value.trim().is_empty())
        }
        let mut builder = ClientBuilder::new();
        builder.api_key = var("OPENAI_API_KEY").map(Secret);
        builder.base_url = var("OPENAI_BASE_URL");
        builder.organization = var("OPENAI_ORG_ID");
        builder.project = var("OPENAI_PROJECT_ID");
        builder
    }

    /// A builder for Azure OpenAI at `endpoint` (`https://NAME.openai.azure.com`).
    ///
    /// Requests go to `{endpoint}/openai/...` with the `api-version` query
    /// parameter ([`api_version`](Self::api_version), by default
    /// [`DEFAULT_AZURE_API_VERSION`]); [`api_key`](Self::api_key) is sent as
    /// the `api-key` header and [`bearer_token`](Self::bearer_token) (an Entra
    /// ID token) as `Authorization: Bearer`.
    ///
    /// ```
    /// use assistant_stream::client::ClientBuilder;
    ///
    /// let client = ClientBuilder::azure("https://my-resource.openai.azure.com")
    ///     .api_key("azure-key")
    ///     .api_version("2024-05-01-preview")
    ///     .deployment("gpt-4o")
    ///     .build()?;
    /// # Ok::<(), assistant_stream::Error>(())
    /// ```
    pub fn azure(endpoint: impl Into<String>) -> Self {
        let mut builder = ClientBuilder::new();
        builder.azure = Some(AzureSettings {
            endpoint: endpoint.into(),
            api_version: DEFAULT_AZURE_API_VERSION.to_owned(),
            deployment: None,
        });
        builder
    }

    /// The API key. With OpenAI-compatible servers it is sent as
    /// `Authorization: Bearer`, with Azure as the `api-key` header. It never
    /// appears in `Debug` output, logs or errors.
    pub fn api_key(mut self, api_key: impl Into<String>) -> Self {
        self.api_key = Some(Secret(api_key.into()));
        self
    }

    /// A bearer token sent as `Authorization: Bearer` (an Azure Entra ID
    /// token, say). Takes precedence over [`api_key`](Self::api_key).
    pub fn bearer_token(mut self, token: impl Into<String>) -> Self {
        self.bearer_token = Some(Secret(token.into()));
        self
    }

    /// The base URL, such as `http://127.0.0.1:8080/v1` (ignored for Azure,
    /// whose endpoint is given to [`azure`](Self::azure)).
    pub fn base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = Some(base_url.into());
        self
    }

    /// The organization, sent as `OpenAI-Organization`.
    pub fn organization(mut self, organization: impl Into<String>) -> Self {
        self.organization = Some(organization.into());
        self
    }

    /// The project, sent as `OpenAI-Project`.
    pub fn project(mut self, project: impl Into<String>) -> Self {
        self.project = Some(project.into());
        self
    }

    /// A header sent with every request. An invalid name or value is
    /// reported by [`build`](Self::build). Values are treated as sensitive
    /// and never printed.
    pub fn default_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), Secret(value.into())));
        self
    }

    /// The longest a request may take. For JSON requests this covers the
    /// whole exchange; for streams it covers the wait for the response
    /// headers and, after that, each wait for the next chunk of the body (a
    /// run may stream for longer, as long as it keeps sending). Default: 10 minutes.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The longest connecting may take. Default: 10 seconds. Ignored with
    /// [`http_client`](Self::http_client), which has its own.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How many times a failed request is retried (connection errors, 408,
    /// 409, 429, 5xx). Default: 2. Streams are retried only before their
    /// response starts.
    pub fn max_retries(mut self, max_retries: u32) -> Self {
        self.max_retries = max_retries;
        self
    }

    /// The delay before the first retry, doubled for each next one (with up
    /// to 25 % jitter), unless the server says how long to wait. Default: 0.5 s.
    pub fn initial_retry_delay(mut self, delay: Duration) -> Self {
        self.initial_retry_delay = delay;
        self
    }

    /// The longest delay between retries. Default: 8 s.
    pub fn max_retry_delay(mut self, delay: Duration) -> Self {
        self.max_retry_delay = delay;
        self
    }

    /// The interval of the `*_poll` helpers, when the server does not give
    /// one in `openai-poll-after-ms`. Default: 1 second.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// A `reqwest::Client` of your own (proxies, TLS roots, connection
    /// pools). Its own timeouts apply in addition to this builder's.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http_client = Some(client);
        self
    }

    /// The Azure `api-version` query parameter (Azure clients only).
    pub fn api_version(mut self, api_version: impl Into<String>) -> Self {
        if let Some(azure) = &mut self.azure {
            azure.api_version = api_version.into();
        }
        self
    }

    /// The Azure deployment: on Azure an assistant's `model` is a deployment
    /// name, and this one is used when a create-assistant request leaves
    /// `model` empty (Azure clients only).
    pub fn deployment(mut self, deployment: impl Into<String>) -> Self {
        if let Some(azure) = &mut self.azure {
            azure.deployment = Some(deployment.into());
        }
        self
    }

    /// Builds the client.
    ///
    /// Fails ([`Error::is_builder`]) on an invalid base URL or header, or if
    /// the HTTP client cannot be made.
    pub fn build(self) -> Result<Client, Error> {
        let (base_url, api_version, deployment) = match &self.azure {
            Some(azure) => {
                let endpoint = azure.endpoint.trim_end_matches('/');
                (
                    format!("{endpoint}/openai"),
                    Some(azure.api_version.clone()),
                    azure.deployment.clone(),
                )
            }
            None => (
                self.base_url
                    .clone()
                    .unwrap_or_else(|| DEFAULT_BASE_URL.to_owned()),
                None,
                None,
            ),
        };
        let base_url = parse_base_url(&base_url)?;

        let auth = match (&self.bearer_token, &self.api_key) {
            (Some(token), _) => Auth::Bearer(token.clone()),
            (None, Some(key)) if self.azure.is_some() => Auth::ApiKeyHeader(key.clone()),
            (None, Some(key)) => Auth::Bearer(key.clone()),
            (None, None) => Auth::None,
        };
        let headers = self.headers(&auth)?;

        let http = match self.http_client {
            Some(http) => http,
            None => {
                super::tls::install_crypto_provider();
                reqwest::Client::builder()
                    .connect_timeout(self.connect_timeout)
                    // Stream events are small writes read one at a time:
                    // Nagle's algorithm would hold them back. reqwest's
                    // default, said here so that it stays.
                    .tcp_nodelay(true)
                    .user_agent(concat!("assistant-stream/", env!("CARGO_PKG_VERSION")))
                    .build()
                    .map_err(|err| {
                        Error::new(Kind::Builder, "the HTTP client could not be built")
                            .with_source(err)
                    })?
            }
        };
        let auth_kind = match auth {
            Auth::None => "none",
            Auth::Bearer(_) => "bearer",
            Auth::ApiKeyHeader(_) => "api-key",
        };
        let config = Config {
            base_url,
            headers,
            api_version,
            deployment,
            timeout: self.timeout,
            poll_interval: self.poll_interval,
            retry: RetryPolicy {
                max_retries: self.max_retries,
                initial_delay: self.initial_retry_delay,
                max_delay: self.max_retry_delay.max(self.initial_retry_delay),
            },
            organization: self.organization,
            project: self.project,
            auth_kind,
        };
        Ok(Client {
            inner: Arc::new(super::ClientInner { config, http }),
        })
    }

    fn headers(&self, auth: &Auth) -> Result<HeaderMap, Error> {
        let mut headers = HeaderMap::new();
        headers.insert("openai-beta", HeaderValue::from_static("assistants=v2"));
        match auth {
            Auth::None => {}
            Auth::Bearer(token) => {
                headers.insert(
                    reqwest::header::AUTHORIZATION,
                    sensitive("Authorization", &format!("Bearer {}", token.0))?,
                );
            }
            Auth::ApiKeyHeader(key) => {
                headers.insert("api-key", sensitive("api-key", &key.0)?);
            }
        }
        if let Some(organization) = &self.organization {
            headers.insert(
                "openai-organization",
                sensitive("OpenAI-Organization", organization)?,
            );
        }
        if let Some(project) = &self.project {
            headers.insert("openai-project", sensitive("OpenAI-Project", project)?);
        }
        for (name, value) in &self.headers {
            let header = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                Error::new(
                    Kind::Builder,
                    format!("`{name}` is not a valid header name"),
                )
            })?;
            headers.insert(header, sensitive(name, &value.0)?);
        }
        Ok(headers)
    }
}

/// A header value marked sensitive; the error never shows the value.
fn sensitive(name: &str, value: &str) -> Result<HeaderValue, Error> {
    let mut value = HeaderValue::from_str(value).map_err(|_| {
        Error::new(
            Kind::Builder,
            format!("the value of the `{name}` header is not a valid header value"),
        )
    })?;
    value.set_sensitive(true);
    Ok(value)
}

fn parse_base_url(base_url: &str) -> Result<Url, Error> {
    let url = Url::parse(base_url.trim_end_matches('/')).map_err(|err| {
        Error::new(
            Kind::Builder,
            format!("the base URL `{base_url}` is invalid"),
        )
        .with_source(err)
    })?;
    if url.cannot_be_a_base() || !matches!(url.scheme(), "http" | "https") {
        return Err(Error::new(
            Kind::Builder,
            format!("the base URL `{base_url}` must be an http or https URL"),
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The builder's error says its own part once, as the engine's errors
    /// do (`assistant_stream_core::error`'s test of every constructor).
    #[test]
    fn a_builder_error_says_its_part_once() {
        let err = crate::Client::builder()
            .base_url("::not a url")
            .build()
            .unwrap_err();
        crate::error::assert_each_part_said_once(&err);
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let builder = ClientBuilder::new()
            .api_key("sk-secret-1")
            .bearer_token("tok-secret-2");
        let shown = format!("{builder:?}");
        assert!(!shown.contains("secret"), "{shown}");
        let client = builder.build().unwrap();
        assert!(!format!("{client:?}").contains("secret"));
    }

    #[test]
    fn invalid_base_url_is_a_builder_error() {
        let err = ClientBuilder::new()
            .base_url("not a url")
            .build()
            .unwrap_err();
        assert!(err.is_builder());
        let err = ClientBuilder::new()
            .base_url("ftp://host/v1")
            .build()
            .unwrap_err();
        assert!(err.is_builder());
    }

    #[test]
    fn invalid_header_value_does_not_leak() {
        let err = ClientBuilder::new()
            .api_key("bad\nkey-secret")
            .build()
            .unwrap_err();
        assert!(err.is_builder());
        assert!(!format!("{err} {err:?}").contains("secret"));
    }

    #[test]
    fn azure_base_url_and_auth() {
        let client = ClientBuilder::azure("https://res.openai.azure.com/")
            .api_key("k")
            .build()
            .unwrap();
        let config = &client.inner.config;
        assert_eq!(
            config.base_url.as_str(),
            "https://res.openai.azure.com/openai"
        );
        assert_eq!(
            config.api_version.as_deref(),
            Some(DEFAULT_AZURE_API_VERSION)
        );
        assert!(config.headers.contains_key("api-key"));
        assert!(!config.headers.contains_key("authorization"));
    }
}
