//! A decoded frame as the image Remotion's compositor answers `/proxy` with: a 24-bit BMP, or
//! an RGBA PNG when transparency was asked for and the frame has alpha (Remotion 4.0.527:
//! `transparent=true` on an opaque source still gives a BMP, on a VP9 with alpha a PNG).
//!
//! The colours are swscale's default YUV → RGB conversion with the frame's own matrix and
//! range (a BT.709-tagged clip converts with BT.709): pixel-identical to the compositor's
//! output on the fixture's clip. A stream stored sideways (a display matrix, as phones write)
//! is turned upright, as the compositor does.

use bytes::Bytes;
use ffmpeg::format::Pixel;
use ffmpeg::software::scaling;
use ffmpeg::util::{color, frame};
use ffmpeg_next as ffmpeg;

use super::extract::ExtractError;

/// An encoded frame.
#[derive(Clone)]
pub struct Image {
    /// The file's bytes (cheap to clone: the same frame may be asked for again).
    pub bytes: Bytes,
    /// Its Content-Type.
    pub content_type: &'static str,
}

/// Converts decoded frames to RGB; keeps its swscale context while the frames keep their shape.
#[derive(Default)]
pub struct Converter {
    scaler: Option<(Scaler, Shape)>,
    /// The converted frame, reused while the shape stays.
    rgb: Option<frame::Video>,
    /// FFmpeg's image encoders, kept while frames keep their size.
    png: Option<ffmpeg::encoder::Video>,
    bmp: Option<ffmpeg::encoder::Video>,
}

/// What a swscale context was made for: source format and size, target format, matrix, full
/// range.
type Shape = (Pixel, u32, u32, Pixel, color::Space, bool);

/// The swscale context.
struct Scaler(scaling::Context);

// SAFETY: the context is owned and only used through `&mut`; swscale keeps no thread-local
// state, so moving it to another thread between uses is sound.
unsafe impl Send for Scaler {}

fn failed(what: &str, e: ffmpeg::Error) -> ExtractError {
    ExtractError::Decode(format!("{what}: {e}"))
}

/// Whether frames of `format` carry alpha.
fn has_alpha(format: Pixel) -> bool {
    // SAFETY: the descriptor is a static table entry.
    format.descriptor().is_some_and(|d| unsafe { (*d.as_ptr()).flags } & ffmpeg::ffi::AV_PIX_FMT_FLAG_ALPHA as u64 != 0)
}

/// swscale's coefficient table for a frame's matrix (unspecified: BT.601, swscale's default).
fn coefficients(space: color::Space) -> i32 {
    use ffmpeg::ffi::{SWS_CS_BT2020, SWS_CS_DEFAULT, SWS_CS_FCC, SWS_CS_ITU601, SWS_CS_ITU709, SWS_CS_SMPTE240M};
    match space {
        color::Space::BT709 => SWS_CS_ITU709,
        color::Space::BT470BG | color::Space::SMPTE170M => SWS_CS_ITU601,
        color::Space::SMPTE240M => SWS_CS_SMPTE240M,
        color::Space::FCC => SWS_CS_FCC,
        color::Space::BT2020NCL | color::Space::BT2020CL => SWS_CS_BT2020,
        _ => SWS_CS_DEFAULT,
    }
}

impl Converter {
    /// `frame` as a BMP, or as a PNG with its alpha when `transparent` and it has one, turned
    /// clockwise by `quarter_turns` (the stream's display rotation).
    pub fn encode(
        &mut self,
        frame: &frame::Video,
        transparent: bool,
        quarter_turns: u32,
    ) -> Result<Image, ExtractError> {
        if transparent && has_alpha(frame.format()) {
            let rgba = convert(&mut self.scaler, &mut self.rgb, frame, Pixel::RGBA)?;
            let rotated = rotate(rgba, quarter_turns, 4);
            let rgba = rotated.as_ref().unwrap_or(rgba);
            let bytes = still_image(&mut self.png, ffmpeg::codec::Id::PNG, rgba)?;
            Ok(Image { bytes: bytes.into(), content_type: "image/png" })
        } else {
            let bgr = convert(&mut self.scaler, &mut self.rgb, frame, Pixel::BGR24)?;
            let rotated = rotate(bgr, quarter_turns, 3);
            let bytes = still_image(&mut self.bmp, ffmpeg::codec::Id::BMP, rotated.as_ref().unwrap_or(bgr))?;
            Ok(Image { bytes: bytes.into(), content_type: "image/bmp" })
        }
    }
}

/// A packed frame (`bytes_per_pixel` per pixel) turned clockwise by `quarter_turns`; `None`
/// when it needs no turning.
fn rotate(source: &frame::Video, quarter_turns: u32, bytes_per_pixel: usize) -> Option<frame::Video> {
    let (width, height) = (source.width() as usize, source.height() as usize);
    let turns = quarter_turns % 4;
    if turns == 0 {
        return None;
    }
    let (out_width, out_height) = if turns == 2 { (width, height) } else { (height, width) };
    let mut out = frame::Video::new(source.format(), out_width as u32, out_height as u32);
    let (src, src_stride) = (source.data(0), source.stride(0));
    let dst_stride = out.stride(0);
    let dst = out.data_mut(0);
    for y in 0..out_height {
        for x in 0..out_width {
            // The source pixel that lands on (x, y).
            let (sx, sy) = match turns {
                1 => (y, height - 1 - x),
                2 => (width - 1 - x, height - 1 - y),
                _ => (width - 1 - y, x),
            };
            let from = sy * src_stride + sx * bytes_per_pixel;
            let to = y * dst_stride + x * bytes_per_pixel;
            dst[to..to + bytes_per_pixel].copy_from_slice(&src[from..from + bytes_per_pixel]);
        }
    }
    Some(out)
}

/// `frame` converted to `target` (full-range RGB) into `rgb`, with the scaler (re)made when the
/// frames change shape.
fn convert<'a>(
    scaler_slot: &mut Option<(Scaler, Shape)>,
    rgb: &'a mut Option<frame::Video>,
    frame: &frame::Video,
    target: Pixel,
) -> Result<&'a frame::Video, ExtractError> {
    let (width, height) = (frame.width(), frame.height());
    let full_range = frame.color_range() == color::Range::JPEG
        || matches!(frame.format(), Pixel::YUVJ420P | Pixel::YUVJ422P | Pixel::YUVJ444P | Pixel::YUVJ440P);
    let shape = (frame.format(), width, height, target, frame.color_space(), full_range);
    if scaler_slot.as_ref().is_none_or(|(_, s)| *s != shape) {
        // Bilinear is only the flag swscale wants; at the same size without accurate
        // rounding it takes its unscaled YUV → RGB path, the compositor's.
        let mut context =
            scaling::Context::get(frame.format(), width, height, target, width, height, scaling::Flags::BILINEAR)
                .map_err(|e| failed("creating the colour converter", e))?;
        // SAFETY: the context is valid; the coefficient tables are static.
        unsafe {
            use ffmpeg::ffi::{SWS_CS_DEFAULT, sws_getCoefficients, sws_setColorspaceDetails};
            sws_setColorspaceDetails(
                context.as_mut_ptr(),
                sws_getCoefficients(coefficients(frame.color_space())),
                i32::from(full_range),
                sws_getCoefficients(SWS_CS_DEFAULT),
                1,
                0,
                1 << 16,
                1 << 16,
            );
        }
        *scaler_slot = Some((Scaler(context), shape));
        *rgb = Some(frame::Video::new(target, width, height));
    }
    let (Some((scaler, _)), Some(out)) = (scaler_slot.as_mut(), rgb.as_mut()) else {
        unreachable!("both set above");
    };
    scaler.0.run(frame, out).map_err(|e| failed("converting the frame to RGB", e))?;
    Ok(out)
}

/// `frame` as one image file of `codec` (PNG, BMP), with the encoder kept in `slot` while frames
/// keep their size and format.
fn still_image(
    slot: &mut Option<ffmpeg::encoder::Video>,
    codec: ffmpeg::codec::Id,
    frame: &frame::Video,
) -> Result<Vec<u8>, ExtractError> {
    let (width, height, format) = (frame.width(), frame.height(), frame.format());
    if !slot.as_ref().is_some_and(|e| e.width() == width && e.height() == height && e.format() == format) {
        let found = ffmpeg::encoder::find(codec)
            .ok_or_else(|| ExtractError::Decode(format!("this FFmpeg has no {codec:?} encoder")))?;
        let mut setup = ffmpeg::codec::context::Context::new_with_codec(found)
            .encoder()
            .video()
            .map_err(|e| failed("creating the image encoder", e))?;
        setup.set_width(width);
        setup.set_height(height);
        setup.set_format(format);
        setup.set_time_base((1, 1));
        *slot = Some(setup.open_as(found).map_err(|e| failed("opening the image encoder", e))?);
    }
    let encoder = slot.as_mut().expect("set above");
    encoder.send_frame(frame).map_err(|e| failed("encoding the image", e))?;
    let mut packet = ffmpeg::Packet::empty();
    encoder.receive_packet(&mut packet).map_err(|e| failed("encoding the image", e))?;
    Ok(packet.data().map(<[u8]>::to_vec).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bmps_are_bottom_up_with_padded_rows() {
        crate::ffmpeg::init();
        let mut frame = frame::Video::new(Pixel::BGR24, 3, 2);
        let stride = frame.stride(0);
        for (y, value) in [(0, 10u8), (1, 20u8)] {
            frame.data_mut(0)[y * stride..y * stride + 9].fill(value);
        }
        let bytes = still_image(&mut None, ffmpeg::codec::Id::BMP, &frame).unwrap();
        // 3 pixels of 3 bytes: rows of 9 bytes padded to 12.
        assert_eq!(bytes.len(), 54 + 2 * 12);
        assert_eq!(&bytes[..2], b"BM");
        assert_eq!(u32::from_le_bytes(bytes[2..6].try_into().unwrap()), 78);
        assert_eq!(i32::from_le_bytes(bytes[22..26].try_into().unwrap()), 2);
        assert_eq!(&bytes[54..63], &[20; 9], "the bottom row comes first");
        assert_eq!(&bytes[63..66], &[0; 3], "padding");
        assert_eq!(&bytes[66..75], &[10; 9]);
    }

    #[test]
    fn quarter_turns_rotate_clockwise() {
        crate::ffmpeg::init();
        // 3x2, one byte per pixel (GRAY8): rows "a b c" / "d e f".
        let mut frame = frame::Video::new(Pixel::GRAY8, 3, 2);
        let stride = frame.stride(0);
        frame.data_mut(0)[..3].copy_from_slice(b"abc");
        frame.data_mut(0)[stride..stride + 3].copy_from_slice(b"def");
        let rows = |f: &frame::Video| -> Vec<String> {
            (0..f.height() as usize)
                .map(|y| String::from_utf8(f.data(0)[y * f.stride(0)..][..f.width() as usize].to_vec()).unwrap())
                .collect()
        };
        assert!(rotate(&frame, 0, 1).is_none());
        assert_eq!(rows(&rotate(&frame, 1, 1).unwrap()), ["da", "eb", "fc"]);
        assert_eq!(rows(&rotate(&frame, 2, 1).unwrap()), ["fed", "cba"]);
        assert_eq!(rows(&rotate(&frame, 3, 1).unwrap()), ["cf", "be", "ad"]);
    }
}
