/// One step of a stage (docs/format.md §3.2), serialised as a JSON object whose `op` names the kind.
/// Layers with tensors have a `name`: the tensors' keys are the stage's name, the names of the
/// enclosing composite layers and this name, joined by dots (`encoder.1.conv0.weight`).
public indirect enum Layer: Codable, Hashable, Sendable {
    case conv(Conv)
    case convTranspose(ConvTranspose)
    case norm(Norm)
    case activation(Activation)
    case dropout(Dropout)
    case maxPool(Pool)
    case avgPool(Pool)
    case interpolate(Interpolate)
    /// `after(body(x) + shortcut(x))`, the shortcut empty for the identity.
    case residual(Residual)
    /// `x · sigmoid(expand(act(reduce(mean over space of x))))`.
    case squeezeExcitation(SqueezeExcitation)
    /// `x · sigmoid(conv([channel mean, channel max] of x))` (CBAM's spatial attention).
    case spatialAttention(SpatialAttention)

    /// The `op` value of each kind.
    public var op: String {
        switch self {
        case .conv: "conv"
        case .convTranspose: "conv_transpose"
        case .norm: "norm"
        case .activation: "act"
        case .dropout: "dropout"
        case .maxPool: "max_pool"
        case .avgPool: "avg_pool"
        case .interpolate: "interpolate"
        case .residual: "residual"
        case .squeezeExcitation: "squeeze_excitation"
        case .spatialAttention: "spatial_attention"
        }
    }

    /// Zero padding of a convolution: explicit per axis (the same before and after), or
    /// TensorFlow's `same` (out = ceil(in / stride); the total padding split with the extra one after).
    public enum Padding: Codable, Hashable, Sendable {
        case explicit([Int])
        case same

        public init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let text = try? c.decode(String.self) {
                guard text == "same" else {
                    throw DecodingError.dataCorrupted(
                        .init(codingPath: decoder.codingPath, debugDescription: "padding \"\(text)\" is not \"same\""))
                }
                self = .same
            } else {
                self = .explicit(try c.decode([Int].self))
            }
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.singleValueContainer()
            switch self {
            case .explicit(let values): try c.encode(values)
            case .same: try c.encode("same")
            }
        }
    }

    public struct Conv: Codable, Hashable, Sendable {
        public var name: String
        /// Output channels.
        public var out: Int
        public var kernel: [Int]
        public var stride: [Int]
        public var padding: Padding
        public var dilation: [Int]
        /// Input and output channels are split into this many groups (depthwise: the input channels).
        public var groups: Int
        public var bias: Bool

        public init(
            name: String, out: Int, kernel: [Int], stride: [Int]? = nil, padding: Padding, dilation: [Int]? = nil,
            groups: Int = 1, bias: Bool
        ) {
            self.name = name
            self.out = out
            self.kernel = kernel
            self.stride = stride ?? kernel.map { _ in 1 }
            self.padding = padding
            self.dilation = dilation ?? kernel.map { _ in 1 }
            self.groups = groups
            self.bias = bias
        }

        enum CodingKeys: String, CodingKey { case name, out, kernel, stride, padding, dilation, groups, bias }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            name = try c.decode(String.self, forKey: .name)
            out = try c.decode(Int.self, forKey: .out)
            kernel = try c.decode([Int].self, forKey: .kernel)
            stride = try c.decodeIfPresent([Int].self, forKey: .stride) ?? kernel.map { _ in 1 }
            padding = try c.decode(Padding.self, forKey: .padding)
            dilation = try c.decodeIfPresent([Int].self, forKey: .dilation) ?? kernel.map { _ in 1 }
            groups = try c.decodeIfPresent(Int.self, forKey: .groups) ?? 1
            bias = try c.decode(Bool.self, forKey: .bias)
        }
    }

    /// A transposed convolution, as PyTorch's `ConvTranspose`: out = (in − 1)·stride − 2·padding +
    /// kernel + output_padding; `same` is Keras' (out = in·stride).
    public struct ConvTranspose: Codable, Hashable, Sendable {
        public var name: String
        public var out: Int
        public var kernel: [Int]
        public var stride: [Int]
        public var padding: Padding
        public var outputPadding: [Int]
        public var groups: Int
        public var bias: Bool

        public init(
            name: String, out: Int, kernel: [Int], stride: [Int], padding: Padding? = nil, outputPadding: [Int]? = nil,
            groups: Int = 1, bias: Bool
        ) {
            self.name = name
            self.out = out
            self.kernel = kernel
            self.stride = stride
            self.padding = padding ?? .explicit(kernel.map { _ in 0 })
            self.outputPadding = outputPadding ?? kernel.map { _ in 0 }
            self.groups = groups
            self.bias = bias
        }

        enum CodingKeys: String, CodingKey {
            case name, out, kernel, stride, padding, groups, bias
            case outputPadding = "output_padding"
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            name = try c.decode(String.self, forKey: .name)
            out = try c.decode(Int.self, forKey: .out)
            kernel = try c.decode([Int].self, forKey: .kernel)
            stride = try c.decode([Int].self, forKey: .stride)
            padding = try c.decodeIfPresent(Padding.self, forKey: .padding) ?? .explicit(kernel.map { _ in 0 })
            outputPadding = try c.decodeIfPresent([Int].self, forKey: .outputPadding) ?? kernel.map { _ in 0 }
            groups = try c.decodeIfPresent(Int.self, forKey: .groups) ?? 1
            bias = try c.decode(Bool.self, forKey: .bias)
        }
    }

    public struct Norm: Codable, Hashable, Sendable {
        public enum Kind: String, Codable, Sendable { case batch, instance, group }
        /// Required when the norm has tensors (batch, or affine instance and group).
        public var name: String?
        public var kind: Kind
        /// Added to the variance.
        public var eps: Double
        /// Whether it has a learnt scale and shift (batch norm always has).
        public var affine: Bool
        /// `group` only: the number of channel groups.
        public var groups: Int?
        /// Informative (training).
        public var momentum: Double?

        public init(
            name: String?, kind: Kind, eps: Double, affine: Bool = true, groups: Int? = nil, momentum: Double? = nil
        ) {
            self.name = name
            self.kind = kind
            self.eps = eps
            self.affine = affine
            self.groups = groups
            self.momentum = momentum
        }
    }

    public struct Activation: Codable, Hashable, Sendable {
        public enum Kind: String, Codable, Sendable {
            case relu, relu6, elu, gelu, silu, sigmoid, tanh, softmax, prelu
            case leakyReLU = "leaky_relu"
        }
        public var kind: Kind
        /// `prelu`: the key prefix of its weight.
        public var name: String?
        /// `leaky_relu`.
        public var negativeSlope: Double?
        /// `elu`.
        public var alpha: Double?
        /// `gelu`: `none` (erf, the default) or `tanh`.
        public var approximate: String?
        /// `prelu`: 1 (one shared slope) or the channels.
        public var parameters: Int?

        public init(
            _ kind: Kind, name: String? = nil, negativeSlope: Double? = nil, alpha: Double? = nil,
            approximate: String? = nil, parameters: Int? = nil
        ) {
            self.kind = kind
            self.name = name
            self.negativeSlope = negativeSlope
            self.alpha = alpha
            self.approximate = approximate
            self.parameters = parameters
        }

        enum CodingKeys: String, CodingKey {
            case kind, name, alpha, approximate, parameters
            case negativeSlope = "negative_slope"
        }
    }

    /// Identity at inference; kept for completeness.
    public struct Dropout: Codable, Hashable, Sendable {
        public var rate: Double
        public init(rate: Double) { self.rate = rate }
    }

    /// Max or average pooling (PyTorch's arithmetic; max pads with −∞).
    public struct Pool: Codable, Hashable, Sendable {
        public var kernel: [Int]
        public var stride: [Int]
        public var padding: [Int]
        public var ceilMode: Bool
        /// Average pooling: whether padded positions count in the divisor (PyTorch's default: true).
        public var countIncludePad: Bool?

        public init(
            kernel: [Int], stride: [Int]? = nil, padding: [Int]? = nil, ceilMode: Bool = false,
            countIncludePad: Bool? = nil
        ) {
            self.kernel = kernel
            self.stride = stride ?? kernel
            self.padding = padding ?? kernel.map { _ in 0 }
            self.ceilMode = ceilMode
            self.countIncludePad = countIncludePad
        }

        enum CodingKeys: String, CodingKey {
            case kernel, stride, padding
            case ceilMode = "ceil_mode", countIncludePad = "count_include_pad"
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            kernel = try c.decode([Int].self, forKey: .kernel)
            stride = try c.decodeIfPresent([Int].self, forKey: .stride) ?? kernel
            padding = try c.decodeIfPresent([Int].self, forKey: .padding) ?? kernel.map { _ in 0 }
            ceilMode = try c.decodeIfPresent(Bool.self, forKey: .ceilMode) ?? false
            countIncludePad = try c.decodeIfPresent(Bool.self, forKey: .countIncludePad)
        }
    }

    /// Up-sampling by an integer factor per axis.
    public struct Interpolate: Codable, Hashable, Sendable {
        public enum Mode: String, Codable, Sendable {
            /// `src = floor(dst / scale)`.
            case nearest
            /// Bilinear (2-D) or trilinear (3-D).
            case linear
        }
        public var mode: Mode
        public var scale: [Int]
        /// `linear` only (required): PyTorch's `align_corners`.
        public var alignCorners: Bool?
        public init(mode: Mode, scale: [Int], alignCorners: Bool? = nil) {
            self.mode = mode
            self.scale = scale
            self.alignCorners = alignCorners
        }
        enum CodingKeys: String, CodingKey {
            case mode, scale
            case alignCorners = "align_corners"
        }
    }

    public struct Residual: Codable, Hashable, Sendable {
        /// An optional key component for the unit's layers.
        public var name: String?
        public var body: [Layer]
        /// Empty: the identity.
        public var shortcut: [Layer]
        /// Applied to the sum (ResNet's final ReLU).
        public var after: [Layer]
        public init(name: String?, body: [Layer], shortcut: [Layer] = [], after: [Layer] = []) {
            self.name = name
            self.body = body
            self.shortcut = shortcut
            self.after = after
        }
        enum CodingKeys: String, CodingKey { case name, body, shortcut, after }
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            name = try c.decodeIfPresent(String.self, forKey: .name)
            body = try c.decode([Layer].self, forKey: .body)
            shortcut = try c.decodeIfPresent([Layer].self, forKey: .shortcut) ?? []
            after = try c.decodeIfPresent([Layer].self, forKey: .after) ?? []
        }
    }

    /// Squeeze-and-excitation with 1×1 convolutions `<name>.reduce` and `<name>.expand`.
    public struct SqueezeExcitation: Codable, Hashable, Sendable {
        public var name: String
        /// Channels of the squeezed vector.
        public var channels: Int
        public var activation: Activation
        public var bias: Bool
        public init(name: String, channels: Int, activation: Activation = Activation(.relu), bias: Bool = true) {
            self.name = name
            self.channels = channels
            self.activation = activation
            self.bias = bias
        }
    }

    /// Spatial attention: one convolution `<name>.conv` from the channel statistics to one channel.
    public struct SpatialAttention: Codable, Hashable, Sendable {
        public enum Statistic: String, Codable, Sendable { case mean, max }
        public var name: String
        public var kernel: [Int]
        public var bias: Bool
        /// The order of the statistics fed to the convolution.
        public var pooling: [Statistic]
        public init(name: String, kernel: [Int], bias: Bool, pooling: [Statistic] = [.mean, .max]) {
            self.name = name
            self.kernel = kernel
            self.bias = bias
            self.pooling = pooling
        }
    }

    // MARK: Coding by `op`

    private enum OpKey: String, CodingKey { case op }

    public init(from decoder: any Decoder) throws {
        let op = try decoder.container(keyedBy: OpKey.self).decode(String.self, forKey: .op)
        switch op {
        case "conv": self = .conv(try Conv(from: decoder))
        case "conv_transpose": self = .convTranspose(try ConvTranspose(from: decoder))
        case "norm": self = .norm(try Norm(from: decoder))
        case "act": self = .activation(try Activation(from: decoder))
        case "dropout": self = .dropout(try Dropout(from: decoder))
        case "max_pool": self = .maxPool(try Pool(from: decoder))
        case "avg_pool": self = .avgPool(try Pool(from: decoder))
        case "interpolate": self = .interpolate(try Interpolate(from: decoder))
        case "residual": self = .residual(try Residual(from: decoder))
        case "squeeze_excitation": self = .squeezeExcitation(try SqueezeExcitation(from: decoder))
        case "spatial_attention": self = .spatialAttention(try SpatialAttention(from: decoder))
        default:
            throw DecodingError.dataCorrupted(
                .init(
                    codingPath: decoder.codingPath + [OpKey.op],
                    debugDescription: "unknown op \"\(op.prefix(40))\" (this unet-ckpt knows schema 2.0's ops)"))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: OpKey.self)
        try c.encode(op, forKey: .op)
        switch self {
        case .conv(let layer): try layer.encode(to: encoder)
        case .convTranspose(let layer): try layer.encode(to: encoder)
        case .norm(let layer): try layer.encode(to: encoder)
        case .activation(let layer): try layer.encode(to: encoder)
        case .dropout(let layer): try layer.encode(to: encoder)
        case .maxPool(let layer), .avgPool(let layer): try layer.encode(to: encoder)
        case .interpolate(let layer): try layer.encode(to: encoder)
        case .residual(let layer): try layer.encode(to: encoder)
        case .squeezeExcitation(let layer): try layer.encode(to: encoder)
        case .spatialAttention(let layer): try layer.encode(to: encoder)
        }
    }
}
