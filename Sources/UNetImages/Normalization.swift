import Foundation
import UNetCheckpoint
import UNetInference

/// How stored pixel values become network input, per channel `c`, in this order:
///
///     x' = (x · scale − mean[c]) / std[c]
///
/// computed in double precision and rounded to float32 once. `scale` defaults to 1, `mean` to 0
/// and `std` to 1; a single mean or std applies to every channel. This is the `input` field of
/// the checkpoint metadata (docs/format.md §6).
public struct Normalization: Sendable, Equatable, CustomStringConvertible {
    public var scale: Double
    public var mean: [Double]
    public var std: [Double]

    public init(scale: Double = 1, mean: [Double] = [0], std: [Double] = [1]) {
        self.scale = scale
        self.mean = mean
        self.std = std
    }

    /// The raw values unchanged.
    public static let identity = Normalization()

    /// The normalisation a checkpoint records.
    public init(_ recorded: CheckpointMetadata.InputNormalization) {
        self.init(
            scale: recorded.scale ?? 1, mean: recorded.mean.flatMap { $0.isEmpty ? nil : $0 } ?? [0],
            std: recorded.std.flatMap { $0.isEmpty ? nil : $0 } ?? [1])
    }

    /// Parses `--normalize`: `none`, or comma-separated `scale=S`, `mean=M`, `std=D`, where each
    /// number may be a fraction (`1/255`) and `mean` and `std` may list one value per channel
    /// separated by colons (`mean=0.485:0.456:0.406`). Fields left out take their defaults (scale
    /// 1, mean 0, std 1), not the checkpoint's.
    public init(parsing text: String) throws(ImageError) {
        func fail(_ why: String) -> ImageError {
            ImageError(
                .unsupported, file: "--normalize",
                "\(why) (expected none, or scale=S,mean=M,std=D with fractions like 1/255 and per-channel "
                    + "values joined by colons)")
        }
        func number(_ text: Substring) throws(ImageError) -> Double {
            let parts = text.split(separator: "/", omittingEmptySubsequences: false)
            guard (1...2).contains(parts.count), let a = Double(parts[0].trimmingCharacters(in: .whitespaces)) else {
                throw fail("'\(text)' is not a number")
            }
            guard parts.count == 2 else { return a }
            guard let b = Double(parts[1].trimmingCharacters(in: .whitespaces)), b != 0 else {
                throw fail("'\(text)' is not a fraction")
            }
            return a / b
        }
        self.init()
        if text.trimmingCharacters(in: .whitespaces).lowercased() == "none" { return }
        var seen: Set<String> = []
        for field in text.split(separator: ",") {
            let pair = field.split(separator: "=", maxSplits: 1)
            guard pair.count == 2 else { throw fail("'\(field)' is not key=value") }
            let key = pair[0].trimmingCharacters(in: .whitespaces).lowercased()
            guard seen.insert(key).inserted else { throw fail("\(key) is given twice") }
            var values: [Double] = []
            for item in pair[1].split(separator: ":", omittingEmptySubsequences: false) {
                values.append(try number(item))
            }
            guard values.allSatisfy(\.isFinite) else { throw fail("\(key) must be finite") }
            switch key {
            case "scale":
                guard values.count == 1 else { throw fail("scale takes one number") }
                scale = values[0]
            case "mean": mean = values
            case "std":
                guard values.allSatisfy({ $0 != 0 }) else { throw fail("std must not be 0") }
                std = values
            default: throw fail("unknown field '\(key)'")
            }
        }
        if seen.isEmpty { throw fail("nothing given") }
    }

    /// `scale 1/255, mean 0.5, std 0.5`.
    public var description: String {
        if self == .identity { return "none (raw values)" }
        func show(_ value: Double, fraction: Bool = false) -> String {
            if fraction, value > 0, value < 1, (1 / value).rounded() == 1 / value { return "1/\(Int(1 / value))" }
            return value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
        }
        return "scale \(show(scale, fraction: true)), mean \(mean.map { show($0) }.joined(separator: ":")), "
            + "std \(std.map { show($0) }.joined(separator: ":"))"
    }

    /// Checks the per-channel lists against a channel count; nil when they fit.
    public func problem(channels: Int) -> String? {
        for (name, list) in [("mean", mean), ("std", std)] where list.count != 1 && list.count != channels {
            return "the normalisation's \(name) has \(list.count) values, the image \(channels) channels"
        }
        return nil
    }

    /// One page of an image as a network input (batch 1).
    public func apply(_ image: PixelImage, page: Int) -> FeatureMap {
        precondition(problem(channels: image.channels) == nil)
        let plane = image.height * image.width
        var map = FeatureMap(batch: 1, channels: image.channels, height: image.height, width: image.width)
        let values = image.page(page)
        let start = values.startIndex
        for c in 0..<image.channels {
            let m = mean.count == 1 ? mean[0] : mean[c]
            let s = std.count == 1 ? std[0] : std[c]
            for i in 0..<plane {
                map.values[c * plane + i] = Float((Double(values[start + c * plane + i]) * scale - m) / s)
            }
        }
        return map
    }
}
