//! In-process video encoding with FFmpeg's libraries: screenshots are decoded, converted to
//! limited-range YUV (BT.709 unless the render's `colorSpace` says otherwise) and encoded
//! (libx264, libx265, libvpx, libvpx-vp9, prores_ks) into the codec's container, or into a
//! chunk container that joins by packet copy. No ffmpeg subprocess, no pipe copies. GIFs are
//! different: their palette needs every frame, so their screenshots are kept as they are and
//! quantised at the end (see [`crate::encode::gif`]).

use std::path::Path;

use ffmpeg::codec::{self, Id};
use ffmpeg::format::{self, Pixel};
use ffmpeg::software::scaling;
use ffmpeg::util::color;
use ffmpeg::util::frame;
use ffmpeg::{Dictionary, Packet, Rational};
use ffmpeg_next as ffmpeg;

use remotion_protocol::media::{AudioCodec, Codec, PixelFormat};

use crate::encode::colour::JpegToVideo;
use crate::encode::delivery::{Colour, Delivery};
use crate::encode::gif::{self, FrameStore};
use crate::encode::{Container, ImageKind, codec_tag, fps_rational, muxer_with_audio, working_file};
use crate::error::RenderError;
use crate::ffmpeg::init;

fn encoding(context: &str, e: ffmpeg::Error) -> RenderError {
    RenderError::Encoding(format!("{context}: {e}"))
}

/// How a codec is driven: FFmpeg encoder, options and default pixel format.
struct CodecSetup {
    encoder: &'static str,
    options: Dictionary<'static>,
    pixel: Pixel,
    bit_rate: Option<usize>,
}

fn pixel(format: PixelFormat) -> Result<Pixel, RenderError> {
    Ok(match format {
        PixelFormat::Yuv420p => Pixel::YUV420P,
        PixelFormat::Yuv422p => Pixel::YUV422P,
        PixelFormat::Yuv444p => Pixel::YUV444P,
        PixelFormat::Yuv420p10le => Pixel::YUV420P10LE,
        PixelFormat::Yuv422p10le => Pixel::YUV422P10LE,
        PixelFormat::Yuv444p10le => Pixel::YUV444P10LE,
        PixelFormat::Yuva420p => Pixel::YUVA420P,
        PixelFormat::Yuva444p10le => Pixel::YUVA444P10LE,
    })
}

/// Whether a pixel format keeps an alpha plane.
pub fn has_alpha(format: PixelFormat) -> bool {
    matches!(format, PixelFormat::Yuva420p | PixelFormat::Yuva444p10le)
}

/// Refuses, before anything renders, what Remotion refuses too: an alpha pixel format fed
/// with JPEG frames (JPEG has no alpha; Remotion: "to render transparent videos, you need to
/// set PNG as the image format").
pub fn check_frames(pixel_format: Option<PixelFormat>, input: ImageKind) -> Result<(), RenderError> {
    match pixel_format {
        Some(format) if has_alpha(format) && input != ImageKind::Png => Err(RenderError::InvalidInput(format!(
            "pixel format {} is for transparent video, which needs PNG frames: set imageFormat png \
             (JPEG frames have no alpha), or use a pixel format without alpha",
            format.as_str()
        ))),
        _ => Ok(()),
    }
}

fn codec_setup(settings: &VideoSettings) -> Result<CodecSetup, RenderError> {
    let codec = settings.codec;
    settings.delivery.check(codec, settings.crf, settings.pixel_format)?;
    // A target bit rate replaces the CRF, as in Remotion (which refuses both).
    let crf =
        if settings.delivery.rate.replaces_crf() { None } else { settings.crf.map(i32::from).or(codec.default_crf()) };
    if let (Some(crf), Some((low, high))) = (crf, codec.crf_range())
        && !(low..=high).contains(&crf)
    {
        return Err(RenderError::InvalidInput(format!("crf {crf} is outside {low}–{high} for {}", codec.as_str())));
    }
    let format = match settings.pixel_format {
        Some(f) if !codec.pixel_formats().contains(&f) => {
            return Err(RenderError::InvalidInput(format!(
                "{} cannot encode pixel format {}",
                codec.as_str(),
                f.as_str()
            )));
        }
        Some(f) => Some(f),
        None => codec.pixel_formats().first().copied(),
    };
    let pixel = pixel(format.unwrap_or(PixelFormat::Yuv420p))?;
    let mut options = Dictionary::new();
    let set_crf = |options: &mut Dictionary<'static>| {
        if let Some(crf) = crf {
            options.set("crf", &crf.to_string());
        }
    };
    let (encoder, bit_rate) = match codec {
        Codec::H264 => {
            set_crf(&mut options);
            options.set("preset", &settings.preset);
            ("libx264", None)
        }
        Codec::H265 => {
            set_crf(&mut options);
            options.set("preset", &settings.preset);
            options.set("x265-params", "log-level=error");
            ("libx265", None)
        }
        Codec::Vp8 => {
            // libvpx's VP8 CRF is "constrained quality": it needs a bit-rate ceiling. Set one
            // high enough (≈0.2 bit per pixel) that the CRF decides the quality; a
            // videoBitrate replaces it (RateControl::apply).
            set_crf(&mut options);
            options.set("deadline", "good");
            options.set("cpu-used", "4");
            if format.is_some_and(has_alpha) {
                // libvpx's VP8 encodes alpha as a second stream, which alternate reference
                // frames break ("Transparency encoding with auto_alt_ref does not work").
                options.set("auto-alt-ref", "0");
            }
            let ceiling = (f64::from(settings.width) * f64::from(settings.height) * settings.fps * 0.2) as usize;
            ("libvpx", Some(ceiling.max(1_000_000)))
        }
        Codec::Vp9 => {
            // Bit rate 0 with a CRF is VP9's constant-quality mode; a videoBitrate replaces
            // both (RateControl::apply).
            set_crf(&mut options);
            options.set("b", "0");
            options.set("deadline", "good");
            options.set("cpu-used", "4");
            options.set("row-mt", "1");
            ("libvpx-vp9", None)
        }
        Codec::Prores => {
            // proResProfile, else Remotion's default HQ (3, 4:2:2); unset with a 4:4:4 pixel
            // format, 4444 (4), the profile that also carries yuva444p10le's alpha (Remotion
            // asks for proResProfile '4444' with it).
            let profile = settings.delivery.pro_res_profile(format);
            options.set("profile", &profile.encoder_profile().to_string());
            options.set("vendor", "apl0");
            ("prores_ks", None)
        }
        Codec::Gif | Codec::Mp3 | Codec::Aac | Codec::Wav => {
            // GIFs never come here: VideoEncoder keeps their screenshots for crate::encode::gif.
            return Err(RenderError::InvalidInput(format!(
                "{} renders are not supported by render function {} yet: use h264, h265, vp8, vp9, prores or gif",
                codec.as_str(),
                crate::versions::FUNCTION_VERSION
            )));
        }
    };
    settings.delivery.rate.apply(&mut options);
    settings.delivery.apply_gop(&mut options);
    Ok(CodecSetup { encoder, options, pixel, bit_rate })
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
    /// Codec.
    pub codec: Codec,
    /// Constant rate factor; default the codec's (Remotion's defaults).
    pub crf: Option<u8>,
    /// x264/x265 preset.
    pub preset: String,
    /// Pixel format; default the codec's.
    pub pixel_format: Option<PixelFormat>,
    /// Container.
    pub container: Container,
    /// The output's audio codec, when it has audio: PCM makes an MP4 or WebM output Matroska
    /// ([`crate::encode::output_muxer`]). Chunks ignore it.
    pub audio: Option<AudioCodec>,
    /// Bit rates, colour space, ProRes profile, GIF loops (Remotion's delivery options).
    pub delivery: Delivery,
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

/// A GIF's frames, kept until one palette is made over all of them.
pub(crate) const GIF_FRAMES: &str = "frames.mkv";

/// Encodes screenshots, in frame order, into a video file.
pub struct VideoEncoder {
    inner: Inner,
}

enum Inner {
    Encode(Box<Encoder>),
    /// A GIF's screenshots, kept for one palette over all of them; `Some(out)`: made into
    /// the GIF `out` when finished (a chunk stays screenshots), looping as the muxer's `loop`.
    Gif(FrameStore, Option<(std::path::PathBuf, std::path::PathBuf, i32)>),
    /// An audio-only render: frames are only counted (the caller writes the audio).
    NoPicture(u64),
}

impl VideoEncoder {
    /// Creates `path` and prepares the encoder.
    pub fn create(path: &Path, settings: &VideoSettings, input: ImageKind) -> Result<Self, RenderError> {
        if settings.codec.is_audio_only() {
            return Ok(Self { inner: Inner::NoPicture(0) });
        }
        if settings.codec != Codec::Gif {
            return Ok(Self { inner: Inner::Encode(Box::new(Encoder::create(path, settings, input)?)) });
        }
        settings.delivery.check(settings.codec, settings.crf, settings.pixel_format)?;
        let fps = fps_rational(settings.fps);
        let inner = match settings.container {
            Container::Chunk => {
                Inner::Gif(FrameStore::create(path, settings.width, settings.height, fps, input)?, None)
            }
            Container::Output => {
                let frames = working_file(path, GIF_FRAMES);
                let store = FrameStore::create(&frames, settings.width, settings.height, fps, input)?;
                Inner::Gif(store, Some((path.to_path_buf(), frames, settings.delivery.gif_loop_option())))
            }
        };
        Ok(Self { inner })
    }

    /// Encodes the next frame from a screenshot.
    pub fn push_image(&mut self, bytes: &[u8]) -> Result<(), RenderError> {
        match &mut self.inner {
            Inner::Encode(encoder) => encoder.push_image(bytes),
            Inner::Gif(store, _) => store.push(bytes),
            Inner::NoPicture(frames) => {
                *frames += 1;
                Ok(())
            }
        }
    }

    /// Flushes the encoder and finishes the file. Returns the number of frames.
    pub fn finish(self) -> Result<u64, RenderError> {
        match self.inner {
            Inner::Encode(encoder) => encoder.finish(),
            Inner::NoPicture(frames) => Ok(frames),
            Inner::Gif(store, None) => store.finish(),
            Inner::Gif(store, Some((out, frames, loops))) => {
                let result = store.finish().and_then(|_| gif::encode(std::slice::from_ref(&frames), &out, loops));
                let _ = std::fs::remove_file(&frames);
                result.map(|summary| summary.frames)
            }
        }
    }
}

/// An FFmpeg video encoder fed with screenshots.
struct Encoder {
    output: format::context::Output,
    encoder: ffmpeg::encoder::Video,
    stream_index: usize,
    encoder_time_base: Rational,
    decoder: ImageDecoder,
    decoded: frame::Video,
    converted: frame::Video,
    scaler: Option<(scaling::Context, Pixel)>,
    /// The fast path of JPEG screenshots to yuv420p (swscale does the rest).
    jpeg_to_video: JpegToVideo,
    pixel: Pixel,
    width: u32,
    height: u32,
    frames: i64,
    /// The YUV matrix and the tags of the colour space.
    colour: Colour,
}

impl Encoder {
    fn create(path: &Path, settings: &VideoSettings, input: ImageKind) -> Result<Self, RenderError> {
        init();
        check_frames(settings.pixel_format, input)?;
        let setup = codec_setup(settings)?;
        if !settings.width.is_multiple_of(2) || !settings.height.is_multiple_of(2) {
            return Err(RenderError::InvalidInput(format!(
                "{} needs even dimensions, the output is {}x{}: change the composition size or the scale",
                settings.codec.as_str(),
                settings.width,
                settings.height
            )));
        }
        let muxer = muxer_with_audio(settings.codec, settings.container, settings.audio)?;
        let mut output =
            format::output_as(path, muxer).map_err(|e| encoding(&format!("creating {}", path.display()), e))?;
        let codec = ffmpeg::encoder::find_by_name(setup.encoder)
            .ok_or_else(|| RenderError::Encoding(format!("FFmpeg was built without {}", setup.encoder)))?;
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
        video.set_format(setup.pixel);
        video.set_time_base(time_base);
        video.set_frame_rate(Some(fps));
        if let Some(rate) = setup.bit_rate {
            video.set_bit_rate(rate);
        }
        // VP8 has no way to say its matrix: decoders (browsers, FFmpeg) always read BT.601
        // (Colour::of keeps it BT.601 unless asked for Remotion's untagged default).
        let colour = Colour::of(settings.codec, settings.delivery.color_space);
        video.set_colorspace(colour.tags.0);
        video.set_color_range(color::Range::MPEG);
        video.set_color_transfer_characteristic(colour.tags.2);
        // SAFETY: the context is valid and not yet opened; ffmpeg-next has no setter for this field.
        unsafe {
            (*video.as_mut_ptr()).color_primaries = colour.tags.1.into();
        }
        let encoder = video.open_with(setup.options).map_err(|e| encoding(&format!("opening {}", setup.encoder), e))?;

        let stream_index = {
            let mut stream = output.add_stream(codec).map_err(|e| encoding("adding the video stream", e))?;
            stream.set_parameters(&encoder);
            if let Some(tag) = codec_tag(settings.codec, muxer) {
                // SAFETY: the stream's parameters were just allocated by set_parameters.
                unsafe {
                    (*(*stream.as_mut_ptr()).codecpar).codec_tag = tag;
                }
            }
            stream.set_time_base(time_base);
            stream.set_rate(fps);
            stream.set_avg_frame_rate(fps);
            stream.index()
        };
        let mut header = Dictionary::new();
        if matches!(muxer, "mp4" | "mov") {
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
            converted: frame::Video::new(setup.pixel, settings.width, settings.height),
            scaler: None,
            jpeg_to_video: JpegToVideo::default(),
            pixel: setup.pixel,
            width: settings.width,
            height: settings.height,
            frames: 0,
            colour,
        })
    }

    /// A converter from the screenshots' pixel format to the encoder's limited-range YUV, in
    /// the matrix of its colour space.
    fn scaler_for(&mut self, source: Pixel) -> Result<&mut scaling::Context, RenderError> {
        let stale = self.scaler.as_ref().is_none_or(|(_, format)| *format != source);
        if stale {
            let mut context = scaling::Context::get(
                source,
                self.width,
                self.height,
                self.pixel,
                self.width,
                self.height,
                scaling::Flags::BICUBIC | scaling::Flags::ACCURATE_RND | scaling::Flags::FULL_CHR_H_INP,
            )
            .map_err(|e| encoding("creating the colour converter", e))?;
            // JPEG screenshots are full-range BT.601; HD video is limited-range BT.709. swscale
            // defaults to BT.601 on both sides, which shifts colours in every player. PNG
            // screenshots are RGBA: with a yuva target swscale carries the alpha plane over
            // (straight alpha, as Chromium writes it and as ProRes 4444 and VP8/VP9 expect).
            let full_range_source = matches!(source, Pixel::YUVJ420P | Pixel::YUVJ422P | Pixel::YUVJ444P);
            let is_rgb = matches!(source, Pixel::RGB24 | Pixel::RGBA | Pixel::BGRA | Pixel::RGB48BE);
            // SAFETY: the context is valid; the coefficient tables are static.
            unsafe {
                use ffmpeg::ffi::{
                    SWS_CS_BT2020, SWS_CS_ITU601, SWS_CS_ITU709, sws_getCoefficients, sws_setColorspaceDetails,
                };
                let target = match self.colour.matrix {
                    color::Space::BT709 => SWS_CS_ITU709,
                    color::Space::BT2020NCL => SWS_CS_BT2020,
                    _ => SWS_CS_ITU601,
                };
                sws_setColorspaceDetails(
                    context.as_mut_ptr(),
                    sws_getCoefficients(SWS_CS_ITU601),
                    i32::from(full_range_source || is_rgb),
                    sws_getCoefficients(target),
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

    fn push_image(&mut self, bytes: &[u8]) -> Result<(), RenderError> {
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
        if JpegToVideo::handles(decoded.format(), self.pixel) {
            self.jpeg_to_video.convert(&decoded, &mut converted, self.colour.matrix)?;
        } else {
            self.scaler_for(decoded.format())?
                .run(&decoded, &mut converted)
                .map_err(|e| encoding("converting colours", e))?;
        }
        // Some encoders (prores_ks) tag each frame with the frame's own colour description,
        // not the context's: without these, ProRes came out untagged and players assumed BT.601.
        converted.set_color_space(self.colour.tags.0);
        converted.set_color_range(color::Range::MPEG);
        converted.set_color_primaries(self.colour.tags.1);
        converted.set_color_transfer_characteristic(self.colour.tags.2);
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

    fn finish(mut self) -> Result<u64, RenderError> {
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
    fn transparency_needs_png_frames() {
        let dir = tempfile::tempdir().unwrap();
        let settings = VideoSettings {
            width: 64,
            height: 64,
            fps: 30.0,
            codec: Codec::Vp9,
            crf: None,
            preset: "medium".into(),
            pixel_format: Some(PixelFormat::Yuva420p),
            container: Container::Output,
            audio: None,
            delivery: Delivery::default(),
        };
        match VideoEncoder::create(&dir.path().join("x.webm"), &settings, ImageKind::Jpeg) {
            Err(RenderError::InvalidInput(m)) => assert!(m.contains("imageFormat png"), "{m}"),
            other => panic!("expected InvalidInput, got {:?}", other.err()),
        }
        assert!(VideoEncoder::create(&dir.path().join("y.webm"), &settings, ImageKind::Png).is_ok());
    }

    #[test]
    fn odd_sizes_are_refused_with_advice() {
        let dir = tempfile::tempdir().unwrap();
        let settings = VideoSettings {
            width: 101,
            height: 100,
            fps: 30.0,
            codec: Codec::H264,
            crf: None,
            preset: "ultrafast".into(),
            pixel_format: None,
            container: Container::Output,
            audio: None,
            delivery: Delivery::default(),
        };
        match VideoEncoder::create(&dir.path().join("x.mp4"), &settings, ImageKind::Png) {
            Err(RenderError::InvalidInput(m)) => assert!(m.contains("even"), "{m}"),
            other => panic!("expected InvalidInput, got {:?}", other.err()),
        }
    }
}
