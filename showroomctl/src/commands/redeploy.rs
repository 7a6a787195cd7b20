//! `redeploy NAME [--param K=V]... [--comment TEXT]`: answered as a deploy is (the script's output, then the demo).

use std::process::ExitCode;

use protocol::{Client, ClientError, RedeployRequest, Request};

pub async fn run(
    c: &mut Client,
    as_json: bool,
    name: String,
    params: Vec<(String, String)>,
    comment: Option<String>,
) -> Result<ExitCode, ClientError> {
    let req = RedeployRequest {
        name,
        params,
        comment,
    };
    super::deploy::run(c, as_json, Request::Redeploy(req)).await
}
