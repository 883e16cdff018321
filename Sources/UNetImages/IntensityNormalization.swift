import Foundation
import UNetCheckpoint
import UNetInference

/// nnU-Net v2's normalisation schemes (nnunetv2.preprocessing.normalization), one per input
/// channel, over the whole image or volume given, in float32 as nnU-Net computes them:
///
/// * `ZScoreNormalization`: `(x − mean) / max(std, 1e-8)` with the channel's own mean and
///   standard deviation;
/// * `CTNormalization`: clipped to the training foreground's 0.5 and 99.5 percentiles, then
///   `(x − mean) / max(std, 1e-8)` with the training foreground's mean and std (from the plans);
/// * `NoNormalization`: unchanged; `RescaleTo01Normalization`: `(x − min) / max(max − min, 1e-8)`;
///   `RGBTo0_1Normalization`: `x / 255` (values must lie within 0…255).
///
/// nnU-Net normalises after cropping to the non-zero region and before resampling; neither is
/// done here, so the input is taken as already cropped and at the plans' spacing.
public enum IntensityNormalization: Sendable, Equatable, CustomStringConvertible {
    case zScore
    case ct(NNUNetSettings.IntensityProperties)
    case none
    case rescaleTo01
    case rgbTo01

    /// The schemes a checkpoint's nnU-Net settings give its channels, or why they cannot be applied.
    public static func recorded(in settings: NNUNetSettings, channels: Int) throws(ImageError) -> [Self] {
        guard let names = settings.normalizationSchemes, names.count == channels else {
            throw ImageError(
                .unsupported, file: "metadata.nnunet",
                "the plans give \(settings.normalizationSchemes?.count ?? 0) normalisation schemes for \(channels) channels"
            )
        }
        return try names.enumerated().map { channel, name throws(ImageError) in
            if settings.useMaskForNorm?[safe: channel] == true, name == "ZScoreNormalization" {
                throw ImageError(
                    .unsupported, file: "metadata.nnunet",
                    "channel \(channel) is normalised inside the non-zero region (use_mask_for_norm), which needs "
                        + "nnU-Net's cropping; not supported (give --normalize to choose a normalisation)")
            }
            switch name {
            case "ZScoreNormalization": return .zScore
            case "CTNormalization":
                guard let properties = settings.intensityProperties[channel] else {
                    throw ImageError(
                        .unsupported, file: "metadata.nnunet",
                        "CTNormalization of channel \(channel) needs the plans' foreground intensity properties")
                }
                return .ct(properties)
            case "NoNormalization": return .none
            case "RescaleTo01Normalization": return .rescaleTo01
            case "RGBTo0_1Normalization": return .rgbTo01
            default:
                throw ImageError(.unsupported, file: "metadata.nnunet", "the normalisation scheme \(name) is not known")
            }
        }
    }

    public var description: String {
        switch self {
        case .zScore: "z-score"
        case .ct(let p): "CT (clip \(p.percentile00_5)…\(p.percentile99_5), mean \(p.mean), std \(p.std))"
        case .none: "none"
        case .rescaleTo01: "rescale to 0…1"
        case .rgbTo01: "/255"
        }
    }

    /// Normalises every channel of `map` by its scheme, in place.
    public static func apply(_ schemes: [Self], to map: inout FeatureMap) throws(ImageError) {
        precondition(schemes.count == map.channels, "one scheme per channel")
        let plane = map.spatial.reduce(1, *)
        for sample in 0..<map.batch {
            for (channel, scheme) in schemes.enumerated() {
                let start = (sample * map.channels + channel) * plane
                try map.values.withUnsafeMutableBufferPointer { values throws(ImageError) in
                    try scheme.apply(UnsafeMutableBufferPointer(rebasing: values[start..<(start + plane)]))
                }
            }
        }
    }

    private func apply(_ x: UnsafeMutableBufferPointer<Float>) throws(ImageError) {
        let eps: Float = 1e-8
        switch self {
        case .none: return
        case .zScore:
            var sum = 0.0
            for value in x { sum += Double(value) }
            let mean = sum / Double(max(x.count, 1))
            var squares = 0.0
            for value in x { squares += (Double(value) - mean) * (Double(value) - mean) }
            let (m, s) = (Float(mean), max(Float((squares / Double(max(x.count, 1))).squareRoot()), eps))
            for index in x.indices { x[index] = (x[index] - m) / s }
        case .ct(let p):
            let (lower, upper) = (Float(p.percentile00_5), Float(p.percentile99_5))
            let (m, s) = (Float(p.mean), max(Float(p.std), eps))
            for index in x.indices { x[index] = (min(max(x[index], lower), upper) - m) / s }
        case .rescaleTo01:
            let low = x.min() ?? 0
            for index in x.indices { x[index] -= low }
            let high = max(x.max() ?? 0, eps)
            for index in x.indices { x[index] /= high }
        case .rgbTo01:
            guard x.allSatisfy({ (0...255).contains($0) }) else {
                throw ImageError(.unsupported, file: "the input", "RGBTo0_1Normalization needs values within 0…255")
            }
            for index in x.indices { x[index] /= 255 }
        }
    }
}

extension Array {
    fileprivate subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}
