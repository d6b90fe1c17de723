//! An Exchange 2010 CAS stand-in for the lab: one process per CAS, one listener per service port,
//! each answering just enough of its protocol for proxyd's health checks and for a client to see
//! which CAS it reached.
//!
//! Per port: 25 SMTP (`220 NAME ...`, HELO/EHLO → 250, QUIT → 221); 110 POP3 (`+OK NAME`); 143
//! IMAP (`* OK NAME`); 80 HTTP (any GET → `200`, body `NAME`); 443, 993, 995 TLS 1.2/1.3 with a
//! self-signed certificate for NAME, then as the next case; every other port (RPC 135, 60000,
//! 60001, ...) writes `NAME:PORT\n` and echoes until EOF. Prints `ready` on stdout once every
//! port is bound. Threads per connection: this is a test peer, not a server to copy.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Parser;

/// Command line.
#[derive(Debug, Parser)]
#[command(name = "cas-standin", about = "Exchange CAS stand-in for the lab")]
struct Args {
    /// Name reported to clients (and the certificate's subject name).
    #[arg(long)]
    name: String,
    /// Address to listen on.
    #[arg(long)]
    addr: IpAddr,
    /// Comma-separated ports.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "25,80,110,135,143,443,993,995,60000,60001"
    )]
    ports: Vec<u16>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let tls = Arc::new(tls_config(&args.name)?);
    let name: Arc<str> = args.name.into();
    let mut threads = Vec::new();
    for port in args.ports {
        let l = TcpListener::bind(SocketAddr::new(args.addr, port))
            .with_context(|| format!("binding {}:{port}", args.addr))?;
        let (name, tls) = (name.clone(), tls.clone());
        threads.push(std::thread::spawn(move || {
            for conn in l.incoming().flatten() {
                let (name, tls) = (name.clone(), tls.clone());
                std::thread::spawn(move || {
                    let _ = serve(conn, port, &name, &tls);
                });
            }
        }));
    }
    println!("ready");
    std::io::stdout().flush()?;
    for t in threads {
        let _ = t.join();
    }
    Ok(())
}

fn tls_config(name: &str) -> Result<rustls::ServerConfig> {
    let cert = rcgen::generate_simple_self_signed(vec![name.to_owned()])?;
    let key = rustls::pki_types::PrivateKeyDer::try_from(cert.key_pair.serialize_der())
        .map_err(|e| anyhow::anyhow!("key: {e}"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)?)
}

fn serve(mut s: TcpStream, port: u16, name: &str, tls: &Arc<rustls::ServerConfig>) -> Result<()> {
    match port {
        25 => smtp(s, name),
        80 => http(s, name),
        110 => {
            s.write_all(format!("+OK {name}\r\n").as_bytes())?;
            echo(&mut s)
        }
        143 => {
            s.write_all(format!("* OK {name}\r\n").as_bytes())?;
            echo(&mut s)
        }
        443 | 993 | 995 => {
            let conn = rustls::ServerConnection::new(tls.clone())?;
            let mut t = rustls::StreamOwned::new(conn, s);
            t.write_all(format!("{name}:{port}\n").as_bytes())?;
            echo(&mut t)
        }
        _ => {
            s.write_all(format!("{name}:{port}\n").as_bytes())?;
            echo(&mut s)
        }
    }
}

fn echo(s: &mut (impl Read + Write)) -> Result<()> {
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        s.write_all(&buf[..n])?;
    }
}

fn smtp(mut s: TcpStream, name: &str) -> Result<()> {
    s.write_all(format!("220 {name} ESMTP stand-in\r\n").as_bytes())?;
    let mut r = BufReader::new(s.try_clone()?);
    let mut line = String::new();
    while r.read_line(&mut line)? > 0 {
        let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
        let reply = match verb.as_str() {
            "HELO" | "EHLO" => format!("250 {name}\r\n"),
            "QUIT" => {
                s.write_all(b"221 bye\r\n")?;
                return Ok(());
            }
            _ => "250 ok\r\n".to_owned(),
        };
        s.write_all(reply.as_bytes())?;
        line.clear();
    }
    Ok(())
}

fn http(mut s: TcpStream, name: &str) -> Result<()> {
    let mut r = BufReader::new(s.try_clone()?);
    let mut line = String::new();
    // Read the request head up to the blank line.
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
    }
    let body = format!("{name}\n");
    s.write_all(
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )?;
    Ok(())
}
