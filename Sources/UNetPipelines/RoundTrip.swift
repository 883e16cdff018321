import Foundation
import UNetCheckpoint
import UNetFormats
import UNetInference

/// `verify --roundtrip`: the checkpoint is written in every format it can be written to, read
/// back, and run on the same input; each route's output is compared with the original's.
public enum RoundTrip {
    /// One format (and element type) the checkpoint went through, and how the output changed.
    public struct Route: Encodable, Sendable {
        /// The format and element type (`pytorch`, `unet-h5 float16`, …), and `(unet-ckpt keys)`
        /// when the source layout could not hold the network.
        public let name: String
        /// The largest absolute difference from the original's output.
        public let maxAbsolute: Double
        /// The largest relative difference (0 when none is defined).
        public let maxRelative: Double
        /// The largest absolute difference allowed, relative to the largest output value.
        public let tolerance: Double
        /// Whether the difference is within the tolerance.
        public let passed: Bool
        enum CodingKeys: String, CodingKey {
            case name, tolerance, passed
            case maxAbsolute = "max_abs", maxRelative = "max_rel"
        }
    }

    /// Lossless routes must give identical outputs; 16-bit routes within these shares of the
    /// output's largest magnitude (measured on the fixtures: f16 ≲ 1e-3, bf16 ≲ 1e-2).
    public static let float16Tolerance = 5e-3
    /// The bfloat16 routes' tolerance (see ``float16Tolerance``).
    public static let bfloat16Tolerance = 5e-2

    /// Writes `checkpoint` in every format that can hold it (in a temporary folder, removed
    /// afterwards), reads each back and compares its output on `input` with the original's.
    /// - Returns: the routes in order: unet-h5, pytorch, safetensors, the Keras formats for
    ///   Keras networks, then unet-h5 in float16 and bfloat16.
    public static func run(_ checkpoint: Checkpoint, input: FeatureMap) throws -> [Route] {
        let reference = try UNetModel(checkpoint).predict(input)
        let scale = Double(reference.values.map { abs($0) }.max() ?? 1)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "unet-ckpt-roundtrip-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }

        var routes: [(String, CheckpointFormat, String, DType)] = [("unet-h5", .unetH5, "model.h5", .float32)]
        routes += [
            ("pytorch", .pytorch, "model.pth", .float32), ("safetensors", .safetensors, "model.safetensors", .float32),
        ]
        if checkpoint.architecture.name == "keras-functional"
            || checkpoint.metadata.source?.layout == "keras-functional"
        {
            routes += [
                ("keras-weights", .kerasWeights, "model.weights.h5", .float32),
                ("keras-h5", .kerasH5, "model-legacy.h5", .float32),
            ]
        }
        routes += [
            ("unet-h5 float16", .unetH5, "model-f16.h5", .float16),
            ("unet-h5 bfloat16", .unetH5, "model-bf16.h5", .bfloat16),
        ]

        var results: [Route] = []
        for (name, format, file, dtype) in routes {
            let path = directory.appendingPathComponent(file).path
            let source = dtype == .float32 ? checkpoint : checkpoint.converted(to: dtype)
            let routeName: String
            do {
                try CheckpointExporter.write(source, to: path, format: format)
                routeName = name
            } catch let error as FormatError where error.kind == .unsupported {
                // The source layout cannot hold this network: the canonical keys can.
                try CheckpointExporter.write(source, to: path, format: format, layout: "unet-ckpt")
                routeName = "\(name) (unet-ckpt keys)"
            }
            let back = try CheckpointImporter.read(path).checkpoint
            let output = try UNetModel(back).predict(input)
            let difference = LargestDifference(output.values, reference.values)
            let tolerance = dtype == .float32 ? 0 : (dtype == .float16 ? float16Tolerance : bfloat16Tolerance)
            results.append(
                Route(
                    name: routeName, maxAbsolute: difference.absolute, maxRelative: difference.relative ?? 0,
                    tolerance: tolerance, passed: difference.absolute <= tolerance * scale))
        }
        return results
    }
}
