/// A declarative description of a 2-D or 3-D U-Net (schema 2.0, docs/format.md §3): encoder
/// stages, decoder stages with their skips, and heads, each an ordered list of ``Layer``s. Enough
/// to know every weight tensor, its shape and how the network computes.
///
/// Nothing reads the stages directly to compute: ``network()`` turns a description into the
/// ``UNetNetwork`` that every consumer interprets (tensor specs, inference, ONNX, drawing).
/// Schema 1.0 descriptions arrive through ``init(_:)`` from an ``ArchitectureV1``.
public struct UNetArchitecture: Codable, Hashable, Sendable {
    /// A free label such as `paper`, `milesial` or `nnunet-plainconv`.
    public var name: String?
    /// 2 (images) or 3 (volumes); every per-axis list has this many entries.
    public var spatialDims: Int
    /// Image channels the network takes.
    public var inChannels: Int
    /// Encoder stages, full resolution first; each takes the previous one's output.
    public var encoder: [EncoderStage]
    /// Decoder stages in execution order (deepest first); the first takes the last encoder
    /// stage's output, each next one the previous decoder stage's.
    public var decoder: [DecoderStage]
    /// Output heads: the first head whose role is `output` is the network's output.
    public var heads: [Head]

    public init(
        name: String? = nil, spatialDims: Int = 2, inChannels: Int, encoder: [EncoderStage], decoder: [DecoderStage],
        heads: [Head]
    ) {
        self.name = name
        self.spatialDims = spatialDims
        self.inChannels = inChannels
        self.encoder = encoder
        self.decoder = decoder
        self.heads = heads
    }

    enum CodingKeys: String, CodingKey {
        case name, encoder, decoder, heads
        case spatialDims = "spatial_dims", inChannels = "in_channels"
    }

    /// An encoder stage: its layers in order; its output is the feature a decoder stage may take
    /// as its skip.
    public struct EncoderStage: Codable, Hashable, Sendable {
        /// The key prefix of the stage's tensors, e.g. `encoder.0`.
        public var name: String
        public var layers: [Layer]
        public init(name: String, layers: [Layer]) {
            self.name = name
            self.layers = layers
        }
    }

    /// A decoder stage: up-sampling of what arrives from below, the skip merge (with an optional
    /// attention gate on the skip), then its layers.
    public struct DecoderStage: Codable, Hashable, Sendable {
        public var name: String
        /// Applied to the map from below before the merge (may be empty).
        public var up: [Layer]
        /// The encoder stage whose output is concatenated here, if any.
        public var skip: Int?
        /// How the skip meets the up-sampled map; required when `skip` is set.
        public var merge: Merge?
        /// An attention gate applied to the skip before the merge (Oktay et al.).
        public var attention: AttentionGate?
        /// Applied after the merge.
        public var layers: [Layer]

        public init(
            name: String, up: [Layer] = [], skip: Int?, merge: Merge? = nil, attention: AttentionGate? = nil,
            layers: [Layer]
        ) {
            self.name = name
            self.up = up
            self.skip = skip
            self.merge = merge
            self.attention = attention
            self.layers = layers
        }

        enum CodingKeys: String, CodingKey { case name, up, skip, merge, attention, layers }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            name = try c.decode(String.self, forKey: .name)
            up = try c.decodeIfPresent([Layer].self, forKey: .up) ?? []
            skip = try c.decodeIfPresent(Int.self, forKey: .skip)
            merge = try c.decodeIfPresent(Merge.self, forKey: .merge)
            attention = try c.decodeIfPresent(AttentionGate.self, forKey: .attention)
            layers = try c.decode([Layer].self, forKey: .layers)
        }
    }

    /// Concatenation of a skip feature and the up-sampled map along the channels.
    public struct Merge: Codable, Hashable, Sendable {
        public enum Order: String, Codable, Sendable {
            case skipFirst = "skip_first"
            case upsampledFirst = "upsampled_first"
        }
        /// How spatial sizes are matched before concatenating.
        public enum Match: String, Codable, Sendable {
            /// The sizes must be equal (the network is refused for inputs where they are not).
            case exact
            /// Centre-crop the skip to the up-sampled size; the difference must be even (the paper).
            case crop
            /// Zero-pad the up-sampled map to the skip's size, `floor(diff/2)` before (milesial).
            case pad
            /// Replicate-pad the up-sampled map by the difference (at most 1) at the end of each axis (MONAI).
            case padReplicateEnd = "pad_replicate_end"
        }
        public var order: Order
        public var match: Match
        public init(order: Order, match: Match) {
            self.order = order
            self.match = match
        }
    }

    /// An additive attention gate on a skip (Oktay et al. 2018, as MONAI `AttentionUnet` and
    /// keras-unet-collection's `att_unet_2d`): `skip · sigmoid(psi(act(gate(g) ⊕ skip_path(skip))))`,
    /// with `g` the up-sampled map.
    public struct AttentionGate: Codable, Hashable, Sendable {
        public enum Combine: String, Codable, Sendable { case add, multiply }
        /// The key prefix of the gate's tensors within its stage, e.g. `attention`.
        public var name: String
        /// Applied to the up-sampled map (the gating signal).
        public var gate: [Layer]
        /// Applied to the skip feature; its output has the channels of `gate`'s.
        public var skip: [Layer]
        public var combine: Combine
        /// Applied to the combination; ends with one channel, to which the sigmoid is applied.
        public var layers: [Layer]
        public init(name: String, gate: [Layer], skip: [Layer], combine: Combine = .add, layers: [Layer]) {
            self.name = name
            self.gate = gate
            self.skip = skip
            self.combine = combine
            self.layers = layers
        }
    }

    /// An output: layers applied to a decoder stage's output.
    public struct Head: Codable, Hashable, Sendable {
        public enum Role: String, Codable, Sendable {
            /// A prediction of the network (the first is the default output).
            case output
            /// A deep-supervision output: used in training, kept for completeness.
            case deepSupervision = "deep_supervision"
        }
        public var name: String
        /// Index into ``UNetArchitecture/decoder`` of the stage it reads.
        public var from: Int
        public var role: Role
        /// May be empty when the decoder already ends with the output channels.
        public var layers: [Layer]
        public init(name: String, from: Int, role: Role = .output, layers: [Layer]) {
            self.name = name
            self.from = from
            self.role = role
            self.layers = layers
        }
    }
}

extension UNetArchitecture {
    /// Schema 1.0's description, migrated losslessly (the tensor keys stay the same).
    public init(_ version1: ArchitectureV1) {
        self = ArchitectureMigration.version2(of: version1)
    }

    /// The schema 1.0 form of this network, when it uses only what 1.0 can say.
    public var version1: ArchitectureV1? { ArchitectureMigration.version1(of: self) }

    /// The head predict uses by default: the first whose role is `output`.
    public var outputHead: Head? { heads.first { $0.role == .output } }

    /// The activation the output head ends with (sigmoid or softmax), telling how to read its
    /// values; `.none` for logits.
    public var finalActivation: ArchitectureV1.FinalActivation {
        guard case .activation(let last)? = outputHead?.layers.last else { return .none }
        switch last.kind {
        case .sigmoid: return .sigmoid
        case .softmax: return .softmax
        default: return .none
        }
    }

    /// Channels of the output head (0 when the description is invalid).
    public var outChannels: Int { (try? network().outputChannels) ?? 0 }

    /// Paper-shaped network (Ronneberger et al. 2015); see ``ArchitectureV1/paper(inChannels:outChannels:widths:)``.
    public static func paper(inChannels: Int = 1, outChannels: Int = 2, widths: [Int] = [64, 128, 256, 512, 1024])
        -> UNetArchitecture
    {
        UNetArchitecture(ArchitectureV1.paper(inChannels: inChannels, outChannels: outChannels, widths: widths))
    }

    /// milesial/Pytorch-UNet; see ``ArchitectureV1/milesial(inChannels:classes:bilinear:baseWidth:)``.
    public static func milesial(inChannels: Int = 3, classes: Int = 2, bilinear: Bool = false, baseWidth: Int = 64)
        -> UNetArchitecture
    {
        UNetArchitecture(
            ArchitectureV1.milesial(inChannels: inChannels, classes: classes, bilinear: bilinear, baseWidth: baseWidth))
    }
}

extension UNetArchitecture {
    /// MONAI `BasicUNet` (2-D); see ``ArchitectureV1/monaiBasicUNet(inChannels:outChannels:features:instanceNormEps:negativeSlope:)``.
    public static func monaiBasicUNet(
        inChannels: Int = 1, outChannels: Int = 2, features: [Int] = [32, 32, 64, 128, 256, 32]
    ) -> UNetArchitecture {
        UNetArchitecture(
            ArchitectureV1.monaiBasicUNet(inChannels: inChannels, outChannels: outChannels, features: features))
    }

    /// A zhixuhao-style Keras functional U-Net; see
    /// ``ArchitectureV1/kerasFunctional(inChannels:outChannels:widths:headChannels:finalActivation:)``.
    public static func kerasFunctional(
        inChannels: Int = 1, outChannels: Int = 1, widths: [Int] = [64, 128, 256, 512, 1024], headChannels: Int = 2
    ) -> UNetArchitecture {
        UNetArchitecture(
            ArchitectureV1.kerasFunctional(
                inChannels: inChannels, outChannels: outChannels, widths: widths, headChannels: headChannels))
    }
}
