/// How a tensor's axes are ordered.
public enum TensorLayout: String, Codable, Sendable {
    /// Convolution weight: output channels, input channels, kernel height, kernel width.
    case oihw = "OIHW"
    /// Transposed-convolution weight: input channels, output channels, kernel height, kernel width.
    case iohw = "IOHW"
    /// 3-D convolution weight: output channels, input channels, kernel depth, height, width.
    case oidhw = "OIDHW"
    /// 3-D transposed-convolution weight: input channels, output channels, kernel depth, height, width.
    case iodhw = "IODHW"
    /// One value per channel (biases, norm parameters and statistics, PReLU slopes).
    case channels = "C"

    /// The layout of a convolution weight with this many spatial axes.
    static func weight(dims: Int) -> TensorLayout { dims == 3 ? .oidhw : .oihw }
    /// The layout of a transposed-convolution weight with this many spatial axes.
    static func transposedWeight(dims: Int) -> TensorLayout { dims == 3 ? .iodhw : .iohw }
}

/// One tensor an architecture requires: its canonical key, shape and layout.
public struct TensorSpec: Hashable, Sendable {
    /// Dotted canonical key, e.g. `encoder.0.conv0.weight`.
    public let key: String
    public let shape: [Int]
    public let layout: TensorLayout

    /// The number of elements.
    public var elementCount: Int { shape.reduce(1, *) }
    /// The layer the tensor belongs to, e.g. `encoder.0.conv0`.
    public var layer: String { String(key[..<(key.lastIndex(of: ".") ?? key.endIndex)]) }
    /// The dataset path in the file: `/tensors/` and the key with dots as slashes.
    public var datasetPath: String { TensorSpec.datasetPath(forKey: key) }

    static func datasetPath(forKey key: String) -> String {
        "/tensors/" + key.split(separator: ".", omittingEmptySubsequences: false).joined(separator: "/")
    }
}
