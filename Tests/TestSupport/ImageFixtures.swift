import Foundation

/// `fixtures/images/manifest.json`: images written by Pillow and tifffile, the predict cases with
/// their expected outputs (computed with PyTorch), and unsupported images (fixtures/generate.py §10).
public struct ImageManifest: Decodable, Sendable {
    public struct Decode: Decodable, Sendable, CustomStringConvertible {
        public let file: String
        /// `[pages, height, width, channels]`.
        public let shape: [Int]
        /// `uint8`, `uint16`, `float32`.
        public let dtype: String
        /// Of the little-endian samples in `shape` order (interleaved channels).
        public let sha256: String
        public let first: Double
        public let min: Double
        public let max: Double
        public var description: String { file }
    }

    public struct Case: Decodable, Sendable, CustomStringConvertible {
        public let name: String
        public let image: String
        public let checkpoint: String
        public let arguments: [String]
        public let threshold: Double
        public let pages: Int
        public let classes: Int
        public let expectedMask: String
        public let expectedProbabilities: String?
        /// Flat indices (page·H·W + y·W + x) whose class the reference could not decide within 1e-4.
        public let ambiguous: [Int]
        public let classCounts: [Int]
        public var description: String { name }
        enum CodingKeys: String, CodingKey {
            case name, image, checkpoint, arguments, threshold, pages, classes, ambiguous
            case expectedMask = "expected_mask", expectedProbabilities = "expected_probabilities"
            case classCounts = "class_counts"
        }
    }

    public struct Unsupported: Decodable, Sendable, CustomStringConvertible {
        public let file: String
        public let mustMention: String
        public let why: String
        public var description: String { file }
        enum CodingKeys: String, CodingKey {
            case file, why
            case mustMention = "must_mention"
        }
    }

    public let decode: [Decode]
    public let predict: [Case]
    public let unsupported: [Unsupported]

    /// The committed manifest; throws when it is missing or does not decode.
    public static var committed: ImageManifest { get throws { try Fixtures.manifest("images/manifest.json") } }
}
