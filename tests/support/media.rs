//! Media for the streaming tests, made by Debian's ffmpeg (scripts/setup.sh installs it): the
//! files the tests play through the stream are known to the test, not to the code under test.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A 60 s WebM (VP8 + Opus) and a 60 s MP4 (H.264 + AAC, `moov` at the end: ffmpeg's default
/// without `+faststart`), 320x240 with a key frame every 2 s, about 7 MB each: large beside
/// librqbit's 2 MiB of requests in flight to a peer, which a seek waits out first.
pub fn make_media(dir: &Path) -> (PathBuf, PathBuf) {
    let webm = dir.join("film.webm");
    let mp4 = dir.join("film.mp4");
    let source = [
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=320x240:rate=25",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000",
        "-t",
        "60",
        "-g",
        "50",
        // Noise, so that the encoders reach their bit rates (a test pattern alone compresses
        // to a few hundred KB).
        "-vf",
        "noise=alls=30:allf=t",
    ];
    let run = |args: &[&str], out: &Path| {
        let status = Command::new("ffmpeg")
            .args(["-v", "error", "-y"])
            .args(source)
            .args(args)
            .arg(out)
            .status()
            .expect("ffmpeg runs");
        assert!(status.success(), "ffmpeg made {}", out.display());
    };
    run(
        &[
            "-c:v",
            "libvpx",
            "-b:v",
            "900k",
            "-deadline",
            "realtime",
            "-cpu-used",
            "8",
            "-c:a",
            "libopus",
            "-b:a",
            "48k",
        ],
        &webm,
    );
    run(
        &[
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-b:v",
            "900k",
            "-c:a",
            "aac",
            "-b:a",
            "48k",
        ],
        &mp4,
    );
    let bytes = std::fs::read(&mp4).unwrap();
    let at = |atom: &[u8]| bytes.windows(4).position(|w| w == atom).unwrap();
    assert!(
        at(b"moov") > at(b"mdat"),
        "the MP4's moov atom is at its end"
    );
    (webm, mp4)
}
