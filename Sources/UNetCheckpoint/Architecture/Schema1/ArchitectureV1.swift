/// A declarative description of a 2-D U-Net: enough to know every weight tensor, its shape and
/// how the network computes. Serialised as the `architecture` JSON of the schema (docs/format.md §3).
///
/// Build one with a family constructor such as ``paper(inChannels:outChannels:widths:)`` or
/// ``milesial(inChannels:classes:bilinear:baseWidth:)``, or field by field; ``validate()``
/// checks the channel arithmetic before anything trusts it.
public struct ArchitectureV1: Codable, Hashable, Sendable {
    /// A free label such as `paper` or `milesial`.
    public var name: String?
    /// Image channels the network takes.
    public var inChannels: Int
    /// Channels it produces (classes).
    public var outChannels: Int
    /// Resolution levels, full resolution first; the last is the bottom of the U.
    public var encoder: [EncoderLevel]
    /// One entry per level with a skip connection, level 0 first (`decoder[l]` joins `encoder[l]`).
    public var decoder: [DecoderLevel]
    public var conv: Convolution
    public var norm: Normalization
    public var activation: Activation
    public var downsample: Downsampling
    public var upsample: Upsampling
    public var skip: SkipConnection
    /// Dropout positions: identity at inference, recorded for completeness.
    public var dropout: [Dropout]
    public var head: Head
    public var finalActivation: FinalActivation

    public init(
        name: String? = nil, inChannels: Int, outChannels: Int, encoder: [EncoderLevel], decoder: [DecoderLevel],
        conv: Convolution, norm: Normalization = .none, activation: Activation = .relu,
        downsample: Downsampling = .maxPool2, upsample: Upsampling, skip: SkipConnection, dropout: [Dropout] = [],
        head: Head = Head(), finalActivation: FinalActivation = .none
    ) {
        self.name = name
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.encoder = encoder
        self.decoder = decoder
        self.conv = conv
        self.norm = norm
        self.activation = activation
        self.downsample = downsample
        self.upsample = upsample
        self.skip = skip
        self.dropout = dropout
        self.head = head
        self.finalActivation = finalActivation
    }

    /// The number of down-sampling steps (levels below the top).
    public var depth: Int { encoder.count - 1 }

    enum CodingKeys: String, CodingKey {
        case name, encoder, decoder, conv, norm, activation, downsample, upsample, skip, dropout, head
        case inChannels = "in_channels", outChannels = "out_channels", finalActivation = "final_activation"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decodeIfPresent(String.self, forKey: .name)
        inChannels = try c.decode(Int.self, forKey: .inChannels)
        outChannels = try c.decode(Int.self, forKey: .outChannels)
        encoder = try c.decode([EncoderLevel].self, forKey: .encoder)
        self.decoder = try c.decode([DecoderLevel].self, forKey: .decoder)
        conv = try c.decode(Convolution.self, forKey: .conv)
        norm = try c.decode(Normalization.self, forKey: .norm)
        activation = try c.decode(Activation.self, forKey: .activation)
        downsample = try c.decode(Downsampling.self, forKey: .downsample)
        upsample = try c.decode(Upsampling.self, forKey: .upsample)
        skip = try c.decode(SkipConnection.self, forKey: .skip)
        dropout = try c.decodeIfPresent([Dropout].self, forKey: .dropout) ?? []
        head = try c.decode(Head.self, forKey: .head)
        finalActivation = try c.decode(FinalActivation.self, forKey: .finalActivation)
    }
}

extension ArchitectureV1 {
    /// One encoder level: the output channels of its convolutions, in order.
    public struct EncoderLevel: Codable, Hashable, Sendable {
        public var convs: [Int]
        public init(convs: [Int]) { self.convs = convs }
    }

    /// One decoder level: channels after up-sampling, then its convolutions' output channels.
    public struct DecoderLevel: Codable, Hashable, Sendable {
        public var upChannels: Int
        public var convs: [Int]
        public init(upChannels: Int, convs: [Int]) {
            self.upChannels = upChannels
            self.convs = convs
        }
        enum CodingKeys: String, CodingKey { case convs, upChannels = "up_channels" }
    }

    /// The level convolutions.
    public struct Convolution: Codable, Hashable, Sendable {
        public enum Padding: String, Codable, Sendable { case valid, same }
        public var kernel: Int
        public var padding: Padding
        public var bias: Bool
        public init(kernel: Int = 3, padding: Padding, bias: Bool) {
            self.kernel = kernel
            self.padding = padding
            self.bias = bias
        }
    }

    /// The normalisation after each level convolution.
    public struct Normalization: Codable, Hashable, Sendable {
        public enum Kind: String, Codable, Sendable { case none, batch, instance }
        public var kind: Kind
        /// Added to the variance; required for `batch` and `instance`.
        public var eps: Double?
        /// `instance` only: whether it has a learnt scale and shift (default true).
        public var affine: Bool?
        /// Informative (training).
        public var momentum: Double?
        public init(kind: Kind, eps: Double? = nil, affine: Bool? = nil, momentum: Double? = nil) {
            self.kind = kind
            self.eps = eps
            self.affine = affine
            self.momentum = momentum
        }
        public static let none = Normalization(kind: .none)
        /// Whether the norm has learnt weight and bias tensors.
        public var hasAffineParameters: Bool {
            switch kind {
            case .none: false
            case .batch: true
            case .instance: affine ?? true
            }
        }
    }

    /// The activation after each normalised convolution.
    public struct Activation: Codable, Hashable, Sendable {
        public enum Kind: String, Codable, Sendable {
            case relu
            case leakyReLU = "leaky_relu"
        }
        public var kind: Kind
        public var negativeSlope: Double?
        public init(kind: Kind, negativeSlope: Double? = nil) {
            self.kind = kind
            self.negativeSlope = negativeSlope
        }
        public static let relu = Activation(kind: .relu)
        public static func leakyReLU(_ slope: Double) -> Activation {
            Activation(kind: .leakyReLU, negativeSlope: slope)
        }
        enum CodingKeys: String, CodingKey { case kind, negativeSlope = "negative_slope" }
    }

    /// Down-sampling between levels: 2×2 max-pooling in schema 1.0.
    public struct Downsampling: Codable, Hashable, Sendable {
        public enum Kind: String, Codable, Sendable { case maxPool = "max_pool" }
        public var kind: Kind
        public var size: Int
        public init(kind: Kind, size: Int) {
            self.kind = kind
            self.size = size
        }
        public static let maxPool2 = Downsampling(kind: .maxPool, size: 2)
    }

    /// The up-sampling step at the start of each decoder level.
    public struct Upsampling: Codable, Hashable, Sendable {
        public enum Kind: String, Codable, Sendable {
            case transposedConv = "transposed_conv"
            case bilinear, nearest
        }
        public var kind: Kind
        /// `transposed_conv`: the kernel side and stride (2).
        public var kernel: Int?
        /// `bilinear`: PyTorch's `align_corners`.
        public var alignCorners: Bool?
        /// `bilinear`/`nearest`: side of a convolution that follows the interpolation, if any.
        public var convKernel: Int?
        /// Whether the transposed or following convolution has a bias.
        public var bias: Bool
        /// Whether the convolution after an interpolation is followed by the network's activation.
        public var activation: Bool?

        public init(
            kind: Kind, kernel: Int? = nil, alignCorners: Bool? = nil, convKernel: Int? = nil, bias: Bool = false,
            activation: Bool? = nil
        ) {
            self.kind = kind
            self.kernel = kernel
            self.alignCorners = alignCorners
            self.convKernel = convKernel
            self.bias = bias
            self.activation = activation
        }

        /// A 2×2 stride-2 transposed convolution.
        public static func transposed(bias: Bool = true) -> Upsampling {
            Upsampling(kind: .transposedConv, kernel: 2, bias: bias)
        }

        /// Whether this step has weights (a transposed conv, or a conv after the interpolation).
        public var hasConvolution: Bool { kind == .transposedConv || convKernel != nil }

        enum CodingKeys: String, CodingKey {
            case kind, kernel, bias, activation
            case alignCorners = "align_corners", convKernel = "conv_kernel"
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            kind = try c.decode(Kind.self, forKey: .kind)
            kernel = try c.decodeIfPresent(Int.self, forKey: .kernel)
            alignCorners = try c.decodeIfPresent(Bool.self, forKey: .alignCorners)
            convKernel = try c.decodeIfPresent(Int.self, forKey: .convKernel)
            bias = try c.decodeIfPresent(Bool.self, forKey: .bias) ?? false
            activation = try c.decodeIfPresent(Bool.self, forKey: .activation)
        }
    }

    /// How a skip feature meets the up-sampled one.
    public struct SkipConnection: Codable, Hashable, Sendable {
        public enum Order: String, Codable, Sendable {
            case skipFirst = "skip_first"
            case upsampledFirst = "upsampled_first"
        }
        public enum Merge: String, Codable, Sendable {
            /// Centre-crop the skip to the up-sampled size (the paper).
            case crop
            /// Zero-pad the up-sampled map to the skip's size, `floor(diff/2)` before (milesial).
            case pad
            /// Replicate-pad the up-sampled map by 1 at the end of each short axis (MONAI).
            case padReplicateEnd = "pad_replicate_end"
        }
        public var order: Order
        public var merge: Merge
        public init(order: Order, merge: Merge) {
            self.order = order
            self.merge = merge
        }
    }

    /// A dropout layer after an encoder or decoder level (`encoder.3`, `decoder.0`).
    public struct Dropout: Codable, Hashable, Sendable {
        public var after: String
        public var rate: Double
        public init(after: String, rate: Double) {
            self.after = after
            self.rate = rate
        }
    }

    /// The output head: optional extra convolutions, then a 1×1 classifier to `outChannels`.
    public struct Head: Codable, Hashable, Sendable {
        public struct ExtraConvolution: Codable, Hashable, Sendable {
            public var channels: Int
            public var kernel: Int
            public var activation: Bool
            public init(channels: Int, kernel: Int, activation: Bool = true) {
                self.channels = channels
                self.kernel = kernel
                self.activation = activation
            }
        }
        public var convs: [ExtraConvolution]
        public var bias: Bool
        public init(convs: [ExtraConvolution] = [], bias: Bool = true) {
            self.convs = convs
            self.bias = bias
        }
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            convs = try c.decodeIfPresent([ExtraConvolution].self, forKey: .convs) ?? []
            bias = try c.decode(Bool.self, forKey: .bias)
        }
    }

    /// Applied to the classifier's output.
    public enum FinalActivation: String, Codable, Sendable { case none, sigmoid, softmax }
}

extension ArchitectureV1 {
    /// Channel counts that flow through the network, derived from the description.
    public struct ChannelPlan: Sendable {
        /// Input channels of each encoder level.
        public var encoderInputs: [Int]
        /// Channels arriving from below at each decoder level (before up-sampling).
        public var decoderBelow: [Int]
        /// Input channels of the head.
        public var headInput: Int
    }

    /// The channels entering each level and the head.
    public var channelPlan: ChannelPlan {
        let encoderInputs = encoder.indices.map { $0 == 0 ? inChannels : encoder[$0 - 1].convs.last ?? 0 }
        let decoderBelow = decoder.indices.map { level in
            level == depth - 1 ? (encoder[depth].convs.last ?? 0) : (decoder[level + 1].convs.last ?? 0)
        }
        return ChannelPlan(
            encoderInputs: encoderInputs, decoderBelow: decoderBelow, headInput: decoder.first?.convs.last ?? 0)
    }

}
