//! Kafka framing: a 4-byte big-endian size followed by that many bytes. The size is
//! checked against `socket.request.max.bytes` before any buffer is allocated.

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("frame of {size} bytes exceeds socket.request.max.bytes ({max})")]
    TooLarge { size: i64, max: usize },
    #[error("negative frame size {0}")]
    Negative(i32),
    #[error("connection closed mid-frame")]
    Truncated,
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads one frame; `Ok(None)` on a clean end of stream between frames.
pub async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    max: usize,
) -> Result<Option<Bytes>, FrameError> {
    let mut len = [0u8; 4];
    match reader.read(&mut len[..1]).await? {
        0 => return Ok(None),
        _ => reader
            .read_exact(&mut len[1..])
            .await
            .map_err(|_| FrameError::Truncated)?,
    };
    let size = i32::from_be_bytes(len);
    if size < 0 {
        return Err(FrameError::Negative(size));
    }
    if size as usize > max {
        return Err(FrameError::TooLarge {
            size: size as i64,
            max,
        });
    }
    let mut buf = BytesMut::zeroed(size as usize);
    reader
        .read_exact(&mut buf)
        .await
        .map_err(|_| FrameError::Truncated)?;
    Ok(Some(buf.freeze()))
}

/// Whether `buf` starts with a complete frame (so more work is queued and a flush can
/// wait).
pub fn has_complete_frame(buf: &[u8]) -> bool {
    if buf.len() < 4 {
        return false;
    }
    let size = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    size >= 0 && buf.len() >= 4 + size as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_frames_and_rejects_oversized_before_allocating() {
        let mut data: &[u8] = &[0, 0, 0, 2, 7, 8, 0, 0, 0, 1];
        let f = read_frame(&mut data, 10).await.expect("ok").expect("frame");
        assert_eq!(&f[..], &[7, 8]);
        assert!(matches!(
            read_frame(&mut data, 10).await,
            Err(FrameError::Truncated)
        ));
        let mut huge: &[u8] = &[0x7f, 0xff, 0xff, 0xff];
        assert!(matches!(
            read_frame(&mut huge, 100).await,
            Err(FrameError::TooLarge { .. })
        ));
        let mut neg: &[u8] = &[0xff, 0xff, 0xff, 0xff];
        assert!(matches!(
            read_frame(&mut neg, 100).await,
            Err(FrameError::Negative(-1))
        ));
        let mut empty: &[u8] = &[];
        assert!(read_frame(&mut empty, 100).await.expect("ok").is_none());
        assert!(has_complete_frame(&[0, 0, 0, 1, 9]));
        assert!(!has_complete_frame(&[0, 0, 0, 2, 9]));
    }
}
