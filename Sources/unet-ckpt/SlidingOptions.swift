import ArgumentParser
import UNetInference

/// `predict`'s sliding-window settings (docs/inference.md, "Sliding windows"): each one not given
/// is the checkpoint framework's.
struct SlidingOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Slide windows of this size (one side, or D,H,W / H,W) with Gaussian blending (default: nnU-Net's patch size; MONAI's roi_size).",
            valueName: "size"))
    var window: String?

    @Option(help: "The fraction of a window its neighbour overlaps, 0 ≤ o < 1 (default 0.5).")
    var overlap: Double?

    @Option(help: "Window placement and Gaussian: monai or nnunet (default: the checkpoint's framework).")
    var blend: String?

    @Option(help: "Precision of the blended sums: float16 (nnU-Net's own) or float32 (default: the framework's).")
    var sums: String?

    @Flag(help: "Test-time mirroring along the axes the checkpoint allows (nnU-Net's; else every spatial axis).")
    var mirror = false

    @Option(help: ArgumentHelp("Mirror along these spatial axes instead (e.g. 0,1,2).", valueName: "axes"))
    var mirrorAxes: String?

    func validate() throws {
        _ = try choices()
    }

    /// The choices given (a window of one side is that side along every axis of the network).
    func choices() throws -> SlidingWindow.Choices {
        var choices = SlidingWindow.Choices(overlap: overlap, mirror: mirror)
        if let window {
            let sides = window.split(whereSeparator: { ",x×".contains($0) }).map { Int($0) }
            guard !sides.isEmpty, sides.allSatisfy({ ($0 ?? 0) > 0 }) else {
                throw ValidationError("--window must be one positive size or one per axis (e.g. 96 or 8,16,16)")
            }
            choices.window = sides.map { $0! }
        }
        if let overlap, !(0..<1).contains(overlap) { throw ValidationError("--overlap must be at least 0 and below 1") }
        if let blend {
            guard let value = SlidingWindow.Blending(rawValue: blend) else {
                throw ValidationError("--blend must be monai or nnunet")
            }
            choices.blending = value
        }
        if let sums {
            guard let value = SlidingWindow.Sums(rawValue: sums) else {
                throw ValidationError("--sums must be float16 or float32")
            }
            choices.sums = value
        }
        if let mirrorAxes {
            let axes = mirrorAxes.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard !axes.isEmpty, axes.allSatisfy({ $0 != nil && $0! >= 0 }) else {
                throw ValidationError("--mirror-axes must list spatial axes, e.g. 0,1,2")
            }
            choices.mirrorAxes = axes.map { $0! }
        }
        return choices
    }

    /// Whether any sliding-window setting was given.
    var given: Bool { window != nil || overlap != nil || blend != nil || sums != nil || mirror || mirrorAxes != nil }
}
