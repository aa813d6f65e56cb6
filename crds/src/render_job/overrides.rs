//! CEL rules of the composition overrides (`forceWidth`, `forceHeight`): H.264 and H.265 in
//! 4:2:0 need even sizes, and Remotion refuses odd ones for them rather than crop.

use kube::core::Rule;

use super::CEL_CODEC;

/// Codecs whose frames must have even sides (Remotion's `validateEvenDimensionsWithCodec`).
const EVEN_SIZE_CODECS: &str = "['h264', 'h265']";

/// A forced side of a video that is odd at the output's scale is refused for the codecs that
/// need even sides. Without `scale` the forced side is the output's; with one, the function
/// checks the scaled size.
fn even_rule(field: &str, message: &'static str) -> Rule {
    Rule::new(format!(
        "!has(self.{field}) || has(self.still) || has(self.scale) || !({CEL_CODEC} in {EVEN_SIZE_CODECS}) \
         || self.{field} % 2 == 0"
    ))
    .message(message)
}

pub(super) fn even_width_rule() -> Rule {
    even_rule(
        "forceWidth",
        "forceWidth must be even for codec h264 and h265 (h264 is the default): their 4:2:0 pictures have even widths",
    )
}

pub(super) fn even_height_rule() -> Rule {
    even_rule(
        "forceHeight",
        "forceHeight must be even for codec h264 and h265 (h264 is the default): their 4:2:0 pictures have even heights",
    )
}
