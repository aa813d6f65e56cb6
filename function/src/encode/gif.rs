//! Animated GIF output.
//!
//! A GIF holds at most 256 colours. Like Remotion (FFmpeg's `palettegen` + `paletteuse`), the
//! whole animation shares one palette built from every frame, and frames are mapped to it with
//! Sierra-2-4A error diffusion (paletteuse's default dither). Our FFmpeg libraries come without
//! libavfilter, so the palette and the mapping are done here, as `palettegen` does it: a
//! median cut of the histogram of pixels sampled evenly across all frames into 255 colours, one palette entry stays free for
//! the encoder's inter-frame transparency, and FFmpeg's `gif` encoder writes the PAL8 frames
//! (cropping each frame to what changed and making unchanged pixels transparent).
//!
//! One palette for all frames needs all frames first, so GIF frames are never quantised
//! where they are captured. The screenshots themselves are kept, packet for packet (JPEG or
//! PNG in Matroska: [`FrameStore`]): a chunk of a GIF render is its screenshots, losslessly,
//! and [`encode`] reads all chunks twice, once to learn the palette and once to map and
//! encode. This is the one output that is re-encoded when chunks are joined (Remotion Lambda
//! does the same with H.264 chunks, which adds a lossy generation before quantisation; ours
//! keep Chromium's own screenshots).

use std::path::{Path, PathBuf};

use std::collections::HashMap;

use ffmpeg::codec::{self, Id};
use ffmpeg::format::{self, Pixel};
use ffmpeg::software::scaling;
use ffmpeg::util::frame;
use ffmpeg::{Dictionary, Packet, Rational, media};
use ffmpeg_next as ffmpeg;

use crate::encode::ImageKind;
use crate::error::RenderError;
use crate::ffmpeg::init;

fn failed(context: &str, e: ffmpeg::Error) -> RenderError {
    RenderError::Encoding(format!("{context}: {e}"))
}

/// Colours learnt for the palette: one fewer than GIF's 256, like `palettegen`'s
/// `reserve_transparent`, so the encoder has an unused index to mark unchanged pixels with.
pub const PALETTE_COLORS: usize = 255;

/// Pixels sampled across all frames to learn the palette (4 bytes each in memory).
const SAMPLE_BUDGET: usize = 2_000_000;

/// How screenshots become RGB: JPEG's half-size chroma interpolated, not repeated.
const SCALER_FLAGS: scaling::Flags =
    scaling::Flags::BICUBIC.union(scaling::Flags::ACCURATE_RND).union(scaling::Flags::FULL_CHR_H_INT);

/// Writes screenshots, unchanged, as the frames of a Matroska file (JPEG or PNG packets).
pub struct FrameStore {
    output: format::context::Output,
    time_base: Rational,
    frames: i64,
}

impl FrameStore {
    /// Creates `path` for `width`×`height` screenshots of `kind` at `fps`.
    pub fn create(path: &Path, width: u32, height: u32, fps: Rational, kind: ImageKind) -> Result<Self, RenderError> {
        init();
        let mut output =
            format::output_as(path, "matroska").map_err(|e| failed(&format!("creating {}", path.display()), e))?;
        let (id, pixel) = match kind {
            ImageKind::Jpeg => {
                (ffmpeg::ffi::AVCodecID::AV_CODEC_ID_MJPEG, ffmpeg::ffi::AVPixelFormat::AV_PIX_FMT_YUVJ420P)
            }
            ImageKind::Png => (ffmpeg::ffi::AVCodecID::AV_CODEC_ID_PNG, ffmpeg::ffi::AVPixelFormat::AV_PIX_FMT_RGBA),
        };
        {
            let mut stream =
                output.add_stream(ffmpeg::encoder::find(Id::None)).map_err(|e| failed("adding the frame stream", e))?;
            // SAFETY: add_stream allocated the stream's parameters; these are plain fields.
            unsafe {
                let parameters = (*stream.as_mut_ptr()).codecpar;
                (*parameters).codec_type = ffmpeg::ffi::AVMediaType::AVMEDIA_TYPE_VIDEO;
                (*parameters).codec_id = id;
                (*parameters).codec_tag = 0;
                (*parameters).width = width as i32;
                (*parameters).height = height as i32;
                (*parameters).format = pixel as i32;
            }
            stream.set_time_base(fps.invert());
            stream.set_rate(fps);
            stream.set_avg_frame_rate(fps);
        }
        output.write_header().map_err(|e| failed("writing the frame store's header", e))?;
        Ok(Self { output, time_base: fps.invert(), frames: 0 })
    }

    /// Appends one screenshot.
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), RenderError> {
        let stream_time_base = self.output.stream(0).expect("one stream").time_base();
        let mut packet = Packet::copy(bytes);
        packet.set_flags(codec::packet::Flags::KEY);
        packet.set_pts(Some(self.frames));
        packet.set_dts(Some(self.frames));
        packet.set_duration(1);
        packet.set_stream(0);
        packet.rescale_ts(self.time_base, stream_time_base);
        packet.write(&mut self.output).map_err(|e| failed("storing a frame", e))?;
        self.frames += 1;
        Ok(())
    }

    /// Finishes the file; returns the number of frames.
    pub fn finish(mut self) -> Result<u64, RenderError> {
        self.output.write_trailer().map_err(|e| failed("finishing the frame store", e))?;
        Ok(self.frames as u64)
    }
}

/// Every frame of `inputs` (in order), decoded and converted to RGBA.
struct Frames<'a> {
    inputs: &'a [PathBuf],
    scaler: Option<(scaling::Context, Pixel, u32, u32)>,
    decoded: frame::Video,
    rgba: frame::Video,
}

impl<'a> Frames<'a> {
    fn new(inputs: &'a [PathBuf]) -> Self {
        Self { inputs, scaler: None, decoded: frame::Video::empty(), rgba: frame::Video::empty() }
    }

    /// Calls `each` with every frame's RGBA pixels, row stride, width and height.
    fn for_each(
        &mut self,
        mut each: impl FnMut(&[u8], usize, u32, u32) -> Result<(), RenderError>,
    ) -> Result<u64, RenderError> {
        let mut count = 0;
        for path in self.inputs {
            let (mut input, index) = open_video(path)?;
            let stream = input.stream(index).expect("open_video found it");
            let mut decoder = codec::context::Context::from_parameters(stream.parameters())
                .and_then(|c| c.decoder().video())
                .map_err(|e| failed(&format!("opening the frames of {}", path.display()), e))?;
            for (s, mut packet) in input.packets() {
                if s.index() != index {
                    continue;
                }
                // Without the key flag FFmpeg's PNG decoder blends each image into the last.
                packet.set_flags(packet.flags() | codec::packet::Flags::KEY);
                decoder.send_packet(&packet).map_err(|e| failed("decoding a frame", e))?;
                count += self.drain(&mut decoder, &mut each)?;
            }
            decoder.send_eof().map_err(|e| failed("decoding a frame", e))?;
            count += self.drain(&mut decoder, &mut each)?;
        }
        Ok(count)
    }

    fn drain(
        &mut self,
        decoder: &mut ffmpeg::decoder::Video,
        each: &mut impl FnMut(&[u8], usize, u32, u32) -> Result<(), RenderError>,
    ) -> Result<u64, RenderError> {
        let mut count = 0;
        while decoder.receive_frame(&mut self.decoded).is_ok() {
            let (format, width, height) = (self.decoded.format(), self.decoded.width(), self.decoded.height());
            if self.scaler.as_ref().is_none_or(|(_, f, w, h)| (*f, *w, *h) != (format, width, height)) {
                // JPEG is full-range BT.601 YUV (swscale knows from the YUVJ format); PNG is RGB.
                let context = scaling::Context::get(format, width, height, Pixel::RGBA, width, height, SCALER_FLAGS)
                    .map_err(|e| failed("creating the colour converter", e))?;
                self.scaler = Some((context, format, width, height));
                self.rgba = frame::Video::empty();
            }
            let (scaler, ..) = self.scaler.as_mut().expect("set above");
            scaler.run(&self.decoded, &mut self.rgba).map_err(|e| failed("converting a frame to RGB", e))?;
            each(self.rgba.data(0), self.rgba.stride(0), width, height)?;
            count += 1;
        }
        Ok(count)
    }
}

/// A frames file opened for reading, with the index of its video stream.
fn open_video(path: &Path) -> Result<(format::context::Input, usize), RenderError> {
    let input = format::input(path).map_err(|e| failed(&format!("opening {}", path.display()), e))?;
    let index = input
        .streams()
        .best(media::Type::Video)
        .ok_or_else(|| RenderError::Encoding(format!("{} has no video stream", path.display())))?
        .index();
    Ok((input, index))
}

/// Frames (video packets) in `inputs`, without decoding them.
fn count_frames(inputs: &[PathBuf]) -> Result<(u64, Rational), RenderError> {
    let mut frames = 0;
    let mut rate = None;
    for path in inputs {
        let (mut input, index) = open_video(path)?;
        let stream = input.stream(index).expect("open_video found it");
        if rate.is_none() {
            let avg = stream.avg_frame_rate();
            rate = Some(if avg.numerator() > 0 && avg.denominator() > 0 { avg } else { stream.rate() });
        }
        frames += input.packets().filter(|(s, _)| s.index() == index).count() as u64;
    }
    let rate = rate
        .filter(|r| r.numerator() > 0 && r.denominator() > 0)
        .ok_or_else(|| RenderError::Encoding("the GIF's frames have no frame rate".into()))?;
    Ok((frames, rate))
}

/// A palette learnt from pixels of every frame.
pub struct Palette {
    colors: Vec<[u8; 3]>,
}

impl Palette {
    /// Learns at most [`PALETTE_COLORS`] colours from `samples` (RGBA) as FFmpeg's
    /// `palettegen` does (Remotion's GIFs): a median cut of their histogram. The box of colours
    /// with the largest variance (count-weighted squared distance to its mean) is split, along
    /// its longest side, where half its pixels are on each side, until there are enough boxes;
    /// each box's colour is its pixels' mean. A smooth gradient gets its steps where its pixels
    /// are, which NeuQuant's sampled learning spread too thinly (twice palettegen's error on
    /// the fixture's gradients).
    pub fn learn(samples: &[u8]) -> Self {
        let mut histogram: HashMap<[u8; 3], u64> = HashMap::new();
        for pixel in samples.chunks_exact(4) {
            *histogram.entry([pixel[0], pixel[1], pixel[2]]).or_default() += 1;
        }
        let mut colors: Vec<([u8; 3], u64)> = histogram.into_iter().collect();
        // Deterministic whatever the hash order.
        colors.sort_unstable();
        let mut boxes = vec![ColorBox::new(&colors, 0..colors.len())];
        while boxes.len() < PALETTE_COLORS {
            let next = boxes
                .iter()
                .enumerate()
                .filter(|(_, b)| b.range.len() > 1)
                .max_by(|(_, a), (_, b)| a.variance.total_cmp(&b.variance))
                .map(|(i, _)| i);
            let Some(index) = next else { break };
            let split = boxes.swap_remove(index);
            let (low, high) = split.split(&mut colors);
            boxes.push(ColorBox::new(&colors, low));
            boxes.push(ColorBox::new(&colors, high));
        }
        Self { colors: boxes.iter().map(|b| b.mean).collect() }
    }

    /// The colours, in index order.
    pub fn colors(&self) -> &[[u8; 3]] {
        &self.colors
    }

    /// FFmpeg's PAL8 palette: 256 opaque ARGB entries (the unused ones black, never referenced).
    fn argb(&self) -> [u32; 256] {
        let mut table = [0xFF00_0000u32; 256];
        for (entry, [r, g, b]) in table.iter_mut().zip(&self.colors) {
            *entry = 0xFF00_0000 | u32::from(*r) << 16 | u32::from(*g) << 8 | u32::from(*b);
        }
        table
    }
}

/// A box of the median cut: a range of the histogram's colours.
struct ColorBox {
    range: std::ops::Range<usize>,
    mean: [u8; 3],
    variance: f64,
}

impl ColorBox {
    fn new(colors: &[([u8; 3], u64)], range: std::ops::Range<usize>) -> Self {
        let slice = &colors[range.clone()];
        let total: u64 = slice.iter().map(|(_, n)| n).sum::<u64>().max(1);
        let mean = std::array::from_fn(|c| {
            (slice.iter().map(|(rgb, n)| u64::from(rgb[c]) * n).sum::<u64>() as f64 / total as f64).round() as u8
        });
        let variance = slice
            .iter()
            .map(|(rgb, n)| (0..3).map(|c| (f64::from(rgb[c]) - f64::from(mean[c])).powi(2)).sum::<f64>() * *n as f64)
            .sum();
        Self { range, mean, variance }
    }

    /// Sorts the box's colours along its longest side and cuts where half its pixels lie on
    /// each side (both halves non-empty).
    fn split(&self, colors: &mut [([u8; 3], u64)]) -> (std::ops::Range<usize>, std::ops::Range<usize>) {
        let slice = &mut colors[self.range.clone()];
        let extent = |c: usize| {
            let (low, high) = slice.iter().fold((u8::MAX, 0u8), |(l, h), (rgb, _)| (l.min(rgb[c]), h.max(rgb[c])));
            high.saturating_sub(low)
        };
        // palettegen's order when sides tie: green, then red, then blue.
        let axis = [1usize, 0, 2].into_iter().max_by_key(|&c| (extent(c), [1u8, 2, 0][c])).unwrap_or(1);
        slice.sort_unstable_by_key(|(rgb, _)| (rgb[axis], rgb[(axis + 1) % 3], rgb[(axis + 2) % 3]));
        let half = slice.iter().map(|(_, n)| n).sum::<u64>().div_ceil(2);
        let mut seen = 0;
        let mut cut = slice.len() - 1;
        for (i, (_, n)) in slice.iter().enumerate() {
            seen += n;
            if seen >= half {
                cut = i + 1;
                break;
            }
        }
        let cut = self.range.start + cut.clamp(1, slice.len() - 1);
        (self.range.start..cut, cut..self.range.end)
    }
}

/// The palette colour nearest to an RGB colour (Euclidean, exact), remembering every colour
/// seen: frames repeat colours, so each distinct colour is searched for once.
struct Nearest {
    colors: Vec<[i32; 3]>,
    cache: Vec<u8>,
    known: Vec<u64>,
}

impl Nearest {
    fn index(&mut self, rgb: [u8; 3]) -> u8 {
        let key = usize::from(rgb[0]) << 16 | usize::from(rgb[1]) << 8 | usize::from(rgb[2]);
        let (word, bit) = (key / 64, 1u64 << (key % 64));
        if self.known[word] & bit != 0 {
            return self.cache[key];
        }
        let [r, g, b] = rgb.map(i32::from);
        let mut best = (i32::MAX, 0usize);
        for (i, c) in self.colors.iter().enumerate() {
            let d = (c[0] - r).pow(2) + (c[1] - g).pow(2) + (c[2] - b).pow(2);
            if d < best.0 {
                best = (d, i);
            }
        }
        let index = best.1 as u8;
        self.cache[key] = index;
        self.known[word] |= bit;
        index
    }
}

/// Maps RGBA frames to palette indices.
pub struct Mapper {
    nearest: Nearest,
    errors: [Vec<[i32; 3]>; 2],
}

impl Mapper {
    /// A mapper to `palette`.
    pub fn new(palette: &Palette) -> Self {
        let nearest = Nearest {
            colors: palette.colors.iter().map(|c| c.map(i32::from)).collect(),
            cache: vec![0; 1 << 24],
            known: vec![0; (1 << 24) / 64],
        };
        Self { nearest, errors: [Vec::new(), Vec::new()] }
    }

    /// Index of the palette colour nearest to `rgb`.
    pub fn nearest(&mut self, rgb: [u8; 3]) -> u8 {
        self.nearest.index(rgb)
    }

    /// Maps one RGBA frame to palette indices with Sierra-2-4A error diffusion (FFmpeg
    /// `paletteuse`'s default): ½ of a pixel's error goes right, ¼ below-left, ¼ below.
    pub fn map_frame(
        &mut self,
        rgba: &[u8],
        stride: usize,
        width: u32,
        height: u32,
        out: &mut [u8],
        out_stride: usize,
    ) {
        let w = width as usize;
        for row in &mut self.errors {
            row.clear();
            row.resize(w + 2, [0; 3]);
        }
        for y in 0..height as usize {
            let line = &rgba[y * stride..y * stride + w * 4];
            let target = &mut out[y * out_stride..y * out_stride + w];
            let [current, below] = &mut self.errors;
            for x in 0..w {
                // Errors are kept at x + 1, so x − 1 of the first pixel is a spare slot.
                let error = current[x + 1];
                let wanted: [u8; 3] =
                    std::array::from_fn(|c| (i32::from(line[x * 4 + c]) + error[c]).clamp(0, 255) as u8);
                let index = self.nearest.index(wanted);
                target[x] = index;
                let chosen = self.nearest.colors[usize::from(index)];
                for c in 0..3 {
                    let e = i32::from(wanted[c]) - chosen[c];
                    current[x + 2][c] += e * 2 / 4;
                    below[x][c] += e / 4;
                    below[x + 1][c] += e / 4;
                }
            }
            std::mem::swap(current, below);
            below.iter_mut().for_each(|e| *e = [0; 3]);
        }
    }
}

/// What [`encode`] did.
#[derive(Clone, Debug)]
pub struct GifSummary {
    /// Frames written.
    pub frames: u64,
    /// Pixels the palette was learnt from.
    pub samples: u64,
    /// Time to learn the palette (first pass).
    pub palette_time: std::time::Duration,
    /// Time to map and encode (second pass).
    pub encode_time: std::time::Duration,
}

/// Encodes the frames of `inputs` (frame stores or any single-video-stream files, in order)
/// into an animated GIF at `out`, with one palette learnt from all of them. `loops` is FFmpeg's
/// GIF muxer `loop` option, as Remotion passes it (`Delivery::gif_loop_option`): 0 loops
/// forever (Remotion's default), -1 writes no loop extension (played once), n loops n times.
pub fn encode(inputs: &[PathBuf], out: &Path, loops: i32) -> Result<GifSummary, RenderError> {
    init();
    if inputs.is_empty() {
        return Err(RenderError::InvalidInput("no frames to make a GIF of".into()));
    }
    let (total, fps) = count_frames(inputs)?;
    if total == 0 {
        return Err(RenderError::Encoding("the GIF's frame files hold no frames".into()));
    }

    // Pass 1: sample pixels evenly over every frame, learn the palette.
    let started = std::time::Instant::now();
    let per_frame = (SAMPLE_BUDGET as u64 / total).max(1) as usize;
    let mut samples: Vec<u8> = Vec::with_capacity(per_frame.saturating_mul(total as usize).min(SAMPLE_BUDGET) * 4 + 4);
    let mut size = None;
    let mut index = 0usize;
    let decoded = Frames::new(inputs).for_each(|rgba, stride, width, height| {
        if *size.get_or_insert((width, height)) != (width, height) {
            return Err(RenderError::Encoding(format!(
                "a frame is {width}x{height}, the first was {}x{}",
                size.map_or(0, |s| s.0),
                size.map_or(0, |s| s.1)
            )));
        }
        let pixels = width as usize * height as usize;
        let step = (pixels / per_frame).max(1);
        // A different offset in each frame, so a fixed grid does not miss the same pixels.
        let mut i = (index.wrapping_mul(7919)) % step;
        while i < pixels {
            let (x, y) = (i % width as usize, i / width as usize);
            let p = &rgba[y * stride + x * 4..y * stride + x * 4 + 3];
            samples.extend_from_slice(&[p[0], p[1], p[2], 255]);
            i += step;
        }
        index += 1;
        Ok(())
    })?;
    if decoded != total {
        return Err(RenderError::Encoding(format!("{decoded} of the GIF's {total} frames could be decoded")));
    }
    let palette = Palette::learn(&samples);
    let palette_time = started.elapsed();
    let (width, height) = size.expect("at least one frame");

    // Pass 2: map every frame to the palette and encode.
    let started = std::time::Instant::now();
    let mut output = format::output_as(out, "gif").map_err(|e| failed(&format!("creating {}", out.display()), e))?;
    let codec =
        ffmpeg::encoder::find(Id::GIF).ok_or_else(|| RenderError::Encoding("FFmpeg has no gif encoder".into()))?;
    let mut video = codec::context::Context::new_with_codec(codec)
        .encoder()
        .video()
        .map_err(|e| failed("preparing the gif encoder", e))?;
    video.set_width(width);
    video.set_height(height);
    video.set_format(Pixel::PAL8);
    video.set_time_base(fps.invert());
    video.set_frame_rate(Some(fps));
    let mut encoder = video.open_with(Dictionary::new()).map_err(|e| failed("opening the gif encoder", e))?;
    {
        let mut stream = output.add_stream(codec).map_err(|e| failed("adding the gif stream", e))?;
        stream.set_parameters(&encoder);
        stream.set_time_base(fps.invert());
        stream.set_avg_frame_rate(fps);
    }
    let mut options = Dictionary::new();
    options.set("loop", &loops.to_string());
    output.write_header_with(options).map_err(|e| failed("writing the GIF header", e))?;
    let stream_time_base = output.stream(0).expect("one stream").time_base();
    let encoder_time_base = fps.invert();
    let write = |encoder: &mut ffmpeg::encoder::Video, output: &mut format::context::Output| {
        let mut packet = Packet::empty();
        while encoder.receive_packet(&mut packet).is_ok() {
            packet.set_stream(0);
            packet.rescale_ts(encoder_time_base, stream_time_base);
            packet.write_interleaved(output).map_err(|e| failed("writing a GIF frame", e))?;
        }
        Ok::<(), RenderError>(())
    };
    let argb = palette.argb();
    let mut mapper = Mapper::new(&palette);
    let mut written = 0i64;
    Frames::new(inputs).for_each(|rgba, stride, w, h| {
        if (w, h) != (width, height) {
            return Err(RenderError::Encoding(format!("a frame is {w}x{h}, the first was {width}x{height}")));
        }
        // A new frame each time: the encoder keeps a reference to the last one to find what changed.
        let mut indexed = frame::Video::new(Pixel::PAL8, width, height);
        let out_stride = indexed.stride(0);
        mapper.map_frame(rgba, stride, width, height, indexed.data_mut(0), out_stride);
        // SAFETY: av_frame_get_buffer allocates PAL8's second plane: 256 native-endian u32.
        unsafe {
            let entries = (*indexed.as_mut_ptr()).data[1] as *mut u32;
            std::ptr::copy_nonoverlapping(argb.as_ptr(), entries, 256);
        }
        indexed.set_pts(Some(written));
        encoder.send_frame(&indexed).map_err(|e| failed("encoding a GIF frame", e))?;
        written += 1;
        write(&mut encoder, &mut output)
    })?;
    encoder.send_eof().map_err(|e| failed("flushing the gif encoder", e))?;
    write(&mut encoder, &mut output)?;
    output.write_trailer().map_err(|e| failed("finishing the GIF", e))?;
    let summary = GifSummary {
        frames: written as u64,
        samples: (samples.len() / 4) as u64,
        palette_time,
        encode_time: started.elapsed(),
    };
    tracing::debug!(?summary, "gif encoded");
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A JPEG of a horizontal gradient from `left` to `right`.
    fn jpeg(width: u32, height: u32, left: [u8; 3], right: [u8; 3]) -> Vec<u8> {
        let image = image::RgbImage::from_fn(width, height, |x, _| {
            let t = x as f32 / (width - 1) as f32;
            let mix = |c: usize| (f32::from(left[c]) * (1.0 - t) + f32::from(right[c]) * t).round() as u8;
            image::Rgb([mix(0), mix(1), mix(2)])
        });
        let mut bytes = Vec::new();
        image.write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Jpeg).unwrap();
        bytes
    }

    #[test]
    fn the_palette_keeps_rare_colours_and_maps_exactly() {
        // Mostly grey with a little pure red: both must be in the palette.
        let mut samples = Vec::new();
        for i in 0..100_000u32 {
            let v = (i % 200) as u8;
            samples.extend_from_slice(&[v, v, v, 255]);
        }
        for _ in 0..500 {
            samples.extend_from_slice(&[255, 0, 0, 255]);
        }
        let palette = Palette::learn(&samples);
        // 201 distinct colours: all of them, exactly.
        assert_eq!(palette.colors().len(), 201);
        let mut mapper = Mapper::new(&palette);
        let red = palette.colors()[usize::from(mapper.nearest([255, 0, 0]))];
        assert!(red[0] > 230 && red[1] < 25 && red[2] < 25, "red maps to {red:?}");
        // The cache answers the same as the search.
        assert_eq!(mapper.nearest([255, 0, 0]), mapper.nearest([255, 0, 0]));
    }

    #[test]
    fn a_gradient_is_cut_where_its_pixels_are() {
        // A long blue-to-orange ramp (1530 colours), four-fifths of the pixels in its first
        // fifth: 255 boxes, and the crowded part gets the finer steps.
        let mut samples = Vec::new();
        for i in 0..1530u32 {
            let t = i as f32 / 1529.0;
            let rgb = [(255.0 * t) as u8, (128.0 * t) as u8, (255.0 * (1.0 - t)) as u8];
            for _ in 0..if i < 306 { 16 } else { 1 } {
                samples.extend_from_slice(&[rgb[0], rgb[1], rgb[2], 255]);
            }
        }
        let palette = Palette::learn(&samples);
        assert_eq!(palette.colors().len(), PALETTE_COLORS);
        let mut mapper = Mapper::new(&palette);
        let mut error = |pixel: &[u8]| {
            let chosen = palette.colors()[usize::from(mapper.nearest([pixel[0], pixel[1], pixel[2]]))];
            (0..3).map(|c| u32::from(pixel[c].abs_diff(chosen[c]))).max().unwrap_or(0)
        };
        let crowded = samples[..306 * 16 * 4].chunks_exact(4).map(&mut error).max().unwrap();
        let sparse = samples[306 * 16 * 4..].chunks_exact(4).map(&mut error).max().unwrap();
        assert!(crowded <= 1 && crowded < sparse, "largest error {crowded} where crowded, {sparse} elsewhere");
    }

    #[test]
    fn chunks_of_screenshots_become_one_looping_gif() {
        let dir = tempfile::tempdir().unwrap();
        let fps = Rational::new(15, 1);
        let mut chunks = Vec::new();
        for (c, frames) in [(0u8, 4u8), (1, 3)] {
            let path = dir.path().join(format!("{c}.mkv"));
            let mut store = FrameStore::create(&path, 64, 48, fps, ImageKind::Jpeg).unwrap();
            for f in 0..frames {
                let shade = (c * 4 + f) * 30;
                store.push(&jpeg(64, 48, [shade, 0, 255 - shade], [255, shade, 0])).unwrap();
            }
            assert_eq!(store.finish().unwrap(), u64::from(frames));
            chunks.push(path);
        }
        let out = dir.path().join("out.gif");
        let summary = encode(&chunks, &out, 0).unwrap();
        assert_eq!(summary.frames, 7);
        let bytes = std::fs::read(&out).unwrap();
        assert!(bytes.starts_with(b"GIF89a"));
        // NETSCAPE2.0 application extension with loop count 0 (forever).
        let at = bytes.windows(11).position(|w| w == b"NETSCAPE2.0").expect("a loop extension");
        assert_eq!(&bytes[at + 11..at + 16], &[3, 1, 0, 0, 0]);
        // The decoded frames count and last 7/15 s.
        let input = format::input(&out).unwrap();
        let duration = input.duration() as f64 / f64::from(ffmpeg::ffi::AV_TIME_BASE);
        drop(input);
        let mut input = format::input(&out).unwrap();
        assert_eq!(input.packets().count(), 7);
        assert!((duration - 7.0 / 15.0).abs() < 0.02, "{duration}");
    }

    #[test]
    fn nothing_to_encode_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(encode(&[], &dir.path().join("x.gif"), 0), Err(RenderError::InvalidInput(_))));
    }
}
