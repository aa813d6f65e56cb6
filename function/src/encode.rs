//! In-process video encoding with FFmpeg's libraries: screenshots are decoded, converted to
//! BT.709 limited-range YUV and encoded with libx264 into MP4 (or MPEG-TS for chunks that are
//! joined later). No ffmpeg subprocess, no pipe copies.

use std::path::Path;
use std::sync::Once;

use ffmpeg::codec::{self, Id};
use ffmpeg::format::{self, Pixel};
use ffmpeg::software::scaling;
use ffmpeg::util::color;
use ffmpeg::util::frame;
use ffmpeg::{Dictionary, Packet, Rational};
use ffmpeg_next as ffmpeg;

use crate::error::RenderError;

static INIT: Once = Once::new();

/// Initialises FFmpeg once per process (and keeps its logging quiet).
pub fn init() {
    INIT.call_once(|| {
        let _ = ffmpeg::init();
        ffmpeg::util::log::set_level(ffmpeg::util::log::Level::Error);
    });
}

fn encoding(context: &str, e: ffmpeg::Error) -> RenderError {
    RenderError::Encoding(format!("{context}: {e}"))
}

/// Format of the screenshots fed to the encoder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageKind {
    /// JPEG screenshots.
    Jpeg,
    /// PNG screenshots.
    Png,
}

/// Container of the encoded video.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Container {
    /// MP4 with the index at the front (playable while downloading).
    Mp4,
    /// MPEG-TS: chunks in this container join by concatenation.
    MpegTs,
}

/// What to encode.
#[derive(Clone, Debug)]
pub struct VideoSettings {
    /// Width, px (even).
    pub width: u32,
    /// Height, px (even).
    pub height: u32,
    /// Frames per second.
    pub fps: f64,
    /// x264 constant rate factor.
    pub crf: u8,
    /// x264 preset.
    pub preset: String,
    /// Container.
    pub container: Container,
}

/// The frame rate as an exact fraction (29.97 → 30000/1001).
pub fn fps_rational(fps: f64) -> Rational {
    if (fps - fps.round()).abs() < 1e-6 {
        Rational::new(fps.round() as i32, 1)
    } else {
        Rational::new((fps * 1001.0).round() as i32, 1001)
    }
}

/// Decodes screenshots into frames.
struct ImageDecoder {
    decoder: ffmpeg::decoder::Video,
}

impl ImageDecoder {
    fn new(kind: ImageKind) -> Result<Self, RenderError> {
        let id = match kind {
            ImageKind::Jpeg => Id::MJPEG,
            ImageKind::Png => Id::PNG,
        };
        let codec = ffmpeg::decoder::find(id).ok_or_else(|| RenderError::Encoding(format!("no {id:?} decoder")))?;
        let decoder = codec::context::Context::new_with_codec(codec)
            .decoder()
            .video()
            .map_err(|e| encoding("opening the image decoder", e))?;
        Ok(Self { decoder })
    }

    fn decode(&mut self, bytes: &[u8], into: &mut frame::Video) -> Result<(), RenderError> {
        let mut packet = Packet::copy(bytes);
        // Without the key flag FFmpeg's PNG decoder treats images as inter frames and blends
        // each with the previous one.
        packet.set_flags(codec::packet::Flags::KEY);
        self.decoder.send_packet(&packet).map_err(|e| encoding("decoding a screenshot", e))?;
        self.decoder.receive_frame(into).map_err(|e| encoding("decoding a screenshot", e))
    }
}

/// Encodes screenshots, in frame order, into a video file.
pub struct VideoEncoder {
    output: format::context::Output,
    encoder: ffmpeg::encoder::Video,
    stream_index: usize,
    encoder_time_base: Rational,
    decoder: ImageDecoder,
    decoded: frame::Video,
    converted: frame::Video,
    scaler: Option<(scaling::Context, Pixel)>,
    width: u32,
    height: u32,
    frames: i64,
}

impl VideoEncoder {
    /// Creates `path` and prepares the encoder.
    pub fn create(path: &Path, settings: &VideoSettings, input: ImageKind) -> Result<Self, RenderError> {
        init();
        if !settings.width.is_multiple_of(2) || !settings.height.is_multiple_of(2) {
            return Err(RenderError::InvalidInput(format!(
                "H.264 needs even dimensions, the output is {}x{}: change the composition size or the scale",
                settings.width, settings.height
            )));
        }
        let mut output = match settings.container {
            Container::Mp4 => format::output_as(path, "mp4"),
            Container::MpegTs => format::output_as(path, "mpegts"),
        }
        .map_err(|e| encoding(&format!("creating {}", path.display()), e))?;
        let codec = ffmpeg::encoder::find_by_name("libx264")
            .ok_or_else(|| RenderError::Encoding("FFmpeg was built without libx264".into()))?;
        let global_header = output.format().flags().contains(format::Flags::GLOBAL_HEADER);
        let fps = fps_rational(settings.fps);
        let time_base = fps.invert();

        let mut context = codec::context::Context::new_with_codec(codec);
        if global_header {
            context.set_flags(codec::Flags::GLOBAL_HEADER);
        }
        let mut video = context.encoder().video().map_err(|e| encoding("preparing the encoder", e))?;
        video.set_width(settings.width);
        video.set_height(settings.height);
        video.set_format(Pixel::YUV420P);
        video.set_time_base(time_base);
        video.set_frame_rate(Some(fps));
        video.set_colorspace(color::Space::BT709);
        video.set_color_range(color::Range::MPEG);
        video.set_color_transfer_characteristic(color::TransferCharacteristic::BT709);
        // SAFETY: the context is valid and not yet opened; ffmpeg-next has no setter for this field.
        unsafe {
            (*video.as_mut_ptr()).color_primaries = ffmpeg::ffi::AVColorPrimaries::AVCOL_PRI_BT709;
        }
        let mut options = Dictionary::new();
        options.set("crf", &settings.crf.to_string());
        options.set("preset", &settings.preset);
        let encoder = video.open_with(options).map_err(|e| encoding("opening libx264", e))?;

        let stream_index = {
            let mut stream = output.add_stream(codec).map_err(|e| encoding("adding the video stream", e))?;
            stream.set_parameters(&encoder);
            stream.set_time_base(time_base);
            stream.set_rate(fps);
            stream.set_avg_frame_rate(fps);
            stream.index()
        };
        let mut header = Dictionary::new();
        if settings.container == Container::Mp4 {
            header.set("movflags", "+faststart");
            header.set("video_track_timescale", "90000");
        }
        output.write_header_with(header).map_err(|e| encoding("writing the container header", e))?;

        Ok(Self {
            output,
            encoder,
            stream_index,
            encoder_time_base: time_base,
            decoder: ImageDecoder::new(input)?,
            decoded: frame::Video::empty(),
            converted: frame::Video::new(Pixel::YUV420P, settings.width, settings.height),
            scaler: None,
            width: settings.width,
            height: settings.height,
            frames: 0,
        })
    }

    /// A converter from the screenshots' pixel format to BT.709 limited-range YUV 4:2:0.
    fn scaler_for(&mut self, source: Pixel) -> Result<&mut scaling::Context, RenderError> {
        let stale = self.scaler.as_ref().is_none_or(|(_, format)| *format != source);
        if stale {
            let mut context = scaling::Context::get(
                source,
                self.width,
                self.height,
                Pixel::YUV420P,
                self.width,
                self.height,
                scaling::Flags::BICUBIC | scaling::Flags::ACCURATE_RND | scaling::Flags::FULL_CHR_H_INP,
            )
            .map_err(|e| encoding("creating the colour converter", e))?;
            // JPEG screenshots are full-range BT.601; HD video is limited-range BT.709. swscale
            // defaults to BT.601 on both sides, which shifts colours in every player.
            let full_range_source = matches!(source, Pixel::YUVJ420P | Pixel::YUVJ422P | Pixel::YUVJ444P);
            let is_rgb = matches!(source, Pixel::RGB24 | Pixel::RGBA | Pixel::BGRA | Pixel::RGB48BE);
            // SAFETY: the context is valid; the coefficient tables are static.
            unsafe {
                use ffmpeg::ffi::{SWS_CS_ITU601, SWS_CS_ITU709, sws_getCoefficients, sws_setColorspaceDetails};
                sws_setColorspaceDetails(
                    context.as_mut_ptr(),
                    sws_getCoefficients(SWS_CS_ITU601),
                    i32::from(full_range_source || is_rgb),
                    sws_getCoefficients(SWS_CS_ITU709),
                    0,
                    0,
                    1 << 16,
                    1 << 16,
                );
            }
            self.scaler = Some((context, source));
        }
        Ok(&mut self.scaler.as_mut().expect("set above").0)
    }

    /// Encodes the next frame from a screenshot.
    pub fn push_image(&mut self, bytes: &[u8]) -> Result<(), RenderError> {
        let mut decoded = std::mem::replace(&mut self.decoded, frame::Video::empty());
        self.decoder.decode(bytes, &mut decoded)?;
        if decoded.width() != self.width || decoded.height() != self.height {
            return Err(RenderError::Encoding(format!(
                "screenshot is {}x{}, the video {}x{}",
                decoded.width(),
                decoded.height(),
                self.width,
                self.height
            )));
        }
        let mut converted = std::mem::replace(&mut self.converted, frame::Video::empty());
        self.scaler_for(decoded.format())?
            .run(&decoded, &mut converted)
            .map_err(|e| encoding("converting colours", e))?;
        converted.set_pts(Some(self.frames));
        converted.set_kind(ffmpeg::picture::Type::None);
        self.encoder.send_frame(&converted).map_err(|e| encoding("encoding a frame", e))?;
        self.frames += 1;
        self.decoded = decoded;
        self.converted = converted;
        self.drain()
    }

    /// Writes every packet the encoder has ready.
    fn drain(&mut self) -> Result<(), RenderError> {
        let stream_time_base = self.output.stream(self.stream_index).expect("stream exists").time_base();
        let mut packet = Packet::empty();
        while self.encoder.receive_packet(&mut packet).is_ok() {
            packet.set_stream(self.stream_index);
            packet.rescale_ts(self.encoder_time_base, stream_time_base);
            packet.write_interleaved(&mut self.output).map_err(|e| encoding("writing a packet", e))?;
        }
        Ok(())
    }

    /// Flushes the encoder and finishes the file. Returns the number of frames.
    pub fn finish(mut self) -> Result<u64, RenderError> {
        self.encoder.send_eof().map_err(|e| encoding("flushing the encoder", e))?;
        self.drain()?;
        self.output.write_trailer().map_err(|e| encoding("finishing the file", e))?;
        Ok(self.frames as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_rates_are_exact_fractions() {
        assert_eq!(fps_rational(30.0), Rational::new(30, 1));
        assert_eq!(fps_rational(29.97), Rational::new(30000, 1001));
        assert_eq!(fps_rational(23.976), Rational::new(24000, 1001));
    }

    #[test]
    fn odd_sizes_are_refused_with_advice() {
        let dir = tempfile::tempdir().unwrap();
        let settings = VideoSettings {
            width: 101,
            height: 100,
            fps: 30.0,
            crf: 18,
            preset: "ultrafast".into(),
            container: Container::Mp4,
        };
        match VideoEncoder::create(&dir.path().join("x.mp4"), &settings, ImageKind::Png) {
            Err(RenderError::InvalidInput(m)) => assert!(m.contains("even"), "{m}"),
            other => panic!("expected InvalidInput, got {:?}", other.err()),
        }
    }
}
