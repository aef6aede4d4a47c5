//! A loopback HTTP endpoint for unit tests of the service modules: each request (read whole)
//! is answered by a function of its text, so a test can script AWS's answers.

use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One answer: status, content type and body.
pub struct Answer {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

/// Serves `answer` on a loopback port until the test ends; its base URL.
pub async fn serve(answer: impl Fn(&str) -> Answer + Send + Sync + 'static) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let answer = Arc::new(answer);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            // Read the whole request (headers, then Content-Length bytes) before answering.
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            while let Ok(n) = stream.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                request.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&request).to_lowercase();
                if let Some(end) = text.find("\r\n\r\n") {
                    let length = text
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    if request.len() >= end + 4 + length {
                        break;
                    }
                }
            }
            let a = answer(&String::from_utf8_lossy(&request));
            let extra: String = a.headers.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect();
            let text = format!(
                "HTTP/1.1 {} X\r\ncontent-type: {}\r\n{extra}content-length: {}\r\nconnection: close\r\n\r\n{}",
                a.status,
                a.content_type,
                a.body.len(),
                a.body
            );
            let _ = stream.write_all(text.as_bytes()).await;
        }
    });
    url
}
