//! `track_file` against real files: `init_file`, writes, replacement by rename, removal,
//! non-numeric and out-of-range content, each verdict asserted. No root needed.

mod common;

use std::time::Duration;

use lbcore::config::vrrp::{InitFile, TrackFile, Weight};
use lbcore::vrrp::track::Status;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use vrrpd::track::{Verdict, file};

/// inotify delivers at once; this absorbs a loaded machine.
const EVENT: Duration = Duration::from_millis(700);

fn spec(name: &str, path: std::path::PathBuf, init_file: Option<InitFile>) -> TrackFile {
    TrackFile {
        name: name.into(),
        file: path,
        weight: Weight {
            value: 1,
            reverse: false,
        },
        init_file,
        span: lbcore::diag::Span::new(std::path::Path::new("test.conf").into(), 1, 1),
    }
}

async fn next(rx: &mut mpsc::Receiver<Verdict>) -> Verdict {
    tokio::time::timeout(EVENT, rx.recv())
        .await
        .expect("no verdict in time")
        .expect("tracker ended")
}

async fn none(rx: &mut mpsc::Receiver<Verdict>) {
    if let Ok(v) = tokio::time::timeout(Duration::from_millis(300), rx.recv()).await {
        panic!("unexpected verdict {v:?}");
    }
}

fn val(tracker: usize, value: i64) -> Verdict {
    Verdict {
        tracker,
        status: Status::Up,
        value: Some(value),
    }
}

#[test]
fn file_values_follow_writes_renames_and_removal() {
    let dir = common::TempDir::new("tfile");
    let path = dir.path("weight");
    let kept = dir.write("kept", "9\n");
    let over = dir.write("over", "9\n");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let (tx, mut rx) = mpsc::channel(64);
        let stop = CancellationToken::new();
        let mut tasks = tokio::task::JoinSet::new();
        let init = |value, overwrite| Some(InitFile { value, overwrite });
        file::start_all(
            vec![
                (0, spec("main", path.clone(), init(5, false))),
                (1, spec("kept", kept.clone(), init(2, false))),
                (2, spec("over", over.clone(), init(2, true))),
            ],
            &tx,
            &stop,
            &mut tasks,
        );
        let mut initial = vec![
            next(&mut rx).await,
            next(&mut rx).await,
            next(&mut rx).await,
        ];
        initial.sort_by_key(|v| v.tracker);
        // init_file creates a missing file, leaves an existing one, rewrites with overwrite.
        assert_eq!(initial, vec![val(0, 5), val(1, 9), val(2, 2)]);
        assert_eq!(std::fs::read_to_string(&over).unwrap().trim(), "2");
        std::fs::write(&path, "7\n").unwrap();
        assert_eq!(next(&mut rx).await, val(0, 7));
        // The same value again: no verdict.
        std::fs::write(&path, "7\n").unwrap();
        none(&mut rx).await;
        // Non-numeric content reads as 0 (strtol).
        std::fs::write(&path, "abc\n").unwrap();
        assert_eq!(next(&mut rx).await, val(0, 0));
        std::fs::write(&path, "0x10 trailing").unwrap();
        assert_eq!(next(&mut rx).await, val(0, 16));
        // Replaced by rename (the usual atomic update).
        let tmp = dir.write("weight.tmp", "-3\n");
        std::fs::rename(&tmp, &path).unwrap();
        assert_eq!(next(&mut rx).await, val(0, -3));
        // Out of int range: ignored, the previous value stays.
        std::fs::write(&path, "99999999999\n").unwrap();
        none(&mut rx).await;
        std::fs::write(&path, "4\n").unwrap();
        assert_eq!(next(&mut rx).await, val(0, 4));
        // Removed: 0.
        std::fs::remove_file(&path).unwrap();
        assert_eq!(next(&mut rx).await, val(0, 0));
        // Created again.
        std::fs::write(&path, "6\n").unwrap();
        assert_eq!(next(&mut rx).await, val(0, 6));
        // Another file of the same directory changing is not this tracker's business.
        std::fs::write(dir.path("unrelated"), "1\n").unwrap();
        none(&mut rx).await;
        stop.cancel();
        while tasks.join_next().await.is_some() {}
    });
}
