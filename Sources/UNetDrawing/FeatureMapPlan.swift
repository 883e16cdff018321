import UNetCheckpoint

/// Every feature map of a U-Net for one square input side, with the operations between them:
/// what the architecture drawing shows. Sizes follow each family's arithmetic: a valid k×k
/// convolution takes k − 1 off the side, same padding keeps it, a 2×2 max-pool halves it
/// (rounding down), up-sampling doubles it, and the skip is cropped to the up-sampled map
/// (`crop`) or the up-sampled map is padded to the skip (`pad`, `pad_replicate_end`).
public struct FeatureMapPlan: Sendable {
    /// One feature map (a box of the drawing).
    public struct Map: Hashable, Sendable {
        public enum Role: String, Sendable, CaseIterable {
            /// The network's input image.
            case input
            /// The output of a convolution and its normalisation and activation.
            case conv
            /// The output of a max-pool: the first map of a lower encoder level.
            case pooled
            /// The up-sampled map at the start of a decoder level (after any padding to the skip).
            case upsampled
            /// The encoder map copied across (after any cropping), concatenated with the up-sampled one.
            case skip
            /// The network's output (after the 1×1 head).
            case output
        }
        public let role: Role
        /// The level (0 = full resolution).
        public let level: Int
        /// Whether the map belongs to the decoder side of the U (including the head).
        public let isDecoder: Bool
        public let channels: Int
        public let side: Int
    }

    /// One operation between two maps (an arrow of the drawing).
    public struct Step: Hashable, Sendable {
        public enum Kind: String, Sendable, CaseIterable {
            /// A level convolution with its normalisation and activation (also the head's extra convs).
            case conv
            /// The skip connection: copy (and crop or pad) and concatenate.
            case copy
            /// 2×2 max-pooling.
            case pool
            /// Up-sampling (up-conv or interpolation, with any following conv).
            case up
            /// The 1×1 classifier and the final activation.
            case head
        }
        public let kind: Kind
        /// Indices into ``FeatureMapPlan/maps``.
        public let from: Int
        public let to: Int
    }

    /// Parameters of one level: its encoder block, and its decoder block (none at the bottom).
    public struct LevelParameters: Hashable, Sendable {
        public let level: Int
        public let encoder: Int
        public let decoder: Int?
        public var total: Int { encoder + (decoder ?? 0) }
    }

    public let architecture: UNetArchitecture
    public let inputSide: Int
    public let maps: [Map]
    public let steps: [Step]
    public let levelParameters: [LevelParameters]
    public let headParameters: Int

    /// The output side (the last map's).
    public var outputSide: Int { maps.last?.side ?? 0 }
    /// All parameters: the levels and the head.
    public var totalParameters: Int { levelParameters.reduce(headParameters) { $0 + $1.total } }

    /// Follows `inputSide` through a validated architecture; throws when the side is not valid
    /// for it (naming the nearest valid sides).
    public init(architecture: UNetArchitecture, inputSide: Int) throws(DrawingError) {
        guard architecture.outputSide(forInputSide: inputSide) != nil else {
            let nearest = architecture.nearestValidInputSides(to: inputSide)
            throw DrawingError.invalidInputSide(inputSide, below: nearest.below, above: nearest.above)
        }
        self.architecture = architecture
        self.inputSide = inputSide
        var maps: [Map] = []
        var steps: [Step] = []
        func add(_ map: Map, from source: Int?, _ kind: Step.Kind) {
            if let source { steps.append(Step(kind: kind, from: source, to: maps.count)) }
            maps.append(map)
        }
        let loss = architecture.conv.padding == .valid ? architecture.conv.kernel - 1 : 0
        var side = inputSide
        add(
            Map(role: .input, level: 0, isDecoder: false, channels: architecture.inChannels, side: side), from: nil,
            .conv)
        var encoderEnds: [Int] = []
        for (level, entry) in architecture.encoder.enumerated() {
            if level > 0 {
                side /= 2
                let channels = architecture.encoder[level - 1].convs.last ?? 0
                add(
                    Map(role: .pooled, level: level, isDecoder: false, channels: channels, side: side),
                    from: encoderEnds[level - 1], .pool)
            }
            for width in entry.convs {
                side -= loss
                add(
                    Map(role: .conv, level: level, isDecoder: false, channels: width, side: side), from: maps.count - 1,
                    .conv)
            }
            encoderEnds.append(maps.count - 1)
        }
        for level in architecture.decoder.indices.reversed() {
            let below = maps.count - 1
            let skipEnd = encoderEnds[level]
            let upsampled = side * 2
            let merged = architecture.skip.merge == .crop ? upsampled : maps[skipEnd].side
            add(
                Map(role: .skip, level: level, isDecoder: true, channels: maps[skipEnd].channels, side: merged),
                from: skipEnd, .copy)
            let entry = architecture.decoder[level]
            add(
                Map(role: .upsampled, level: level, isDecoder: true, channels: entry.upChannels, side: merged),
                from: below, .up)
            side = merged
            for width in entry.convs {
                side -= loss
                add(
                    Map(role: .conv, level: level, isDecoder: true, channels: width, side: side), from: maps.count - 1,
                    .conv)
            }
        }
        for extra in architecture.head.convs {
            // The head's extra convolutions are always same-padded (as the forward pass runs them).
            add(
                Map(role: .conv, level: 0, isDecoder: true, channels: extra.channels, side: side), from: maps.count - 1,
                .conv)
        }
        add(
            Map(role: .output, level: 0, isDecoder: true, channels: architecture.outChannels, side: side),
            from: maps.count - 1, .head)
        self.maps = maps
        self.steps = steps

        var byBlock: [String: Int] = [:]
        for spec in try architecture.network().tensorSpecs { byBlock[spec.block, default: 0] += spec.elementCount }
        levelParameters = architecture.encoder.indices.map { level in
            LevelParameters(
                level: level, encoder: byBlock["encoder.\(level)"] ?? 0,
                decoder: level < architecture.decoder.count ? byBlock["decoder.\(level)"] ?? 0 : nil)
        }
        headParameters = byBlock["head"] ?? 0
    }

    /// The side drawn when none is asked for: the training tile size when the metadata records a
    /// valid one; otherwise, for valid convolutions, the valid side nearest the paper's 572 (572
    /// itself for the paper's network) and, for same padding, the valid side nearest 256.
    public static func defaultInputSide(for architecture: UNetArchitecture, metadata: CheckpointMetadata? = nil)
        -> Int?
    {
        if let tile = metadata?.training?.tileSize, architecture.outputSide(forInputSide: tile) != nil { return tile }
        let target = architecture.conv.padding == .valid ? 572 : 256
        let nearest = architecture.nearestValidInputSides(to: target)
        return nearest.below ?? nearest.above
    }
}

/// Why a drawing cannot be made.
public enum DrawingError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The input side gives no valid output; the nearest valid sides below and above it.
    case invalidInputSide(Int, below: Int?, above: Int?)

    public var description: String {
        switch self {
        case .invalidInputSide(let side, let below, let above):
            let nearest = [below, above].compactMap { $0 }.map(String.init)
            let hint =
                nearest.isEmpty
                ? "the network has no valid input size"
                : "the nearest valid sizes are " + nearest.joined(separator: " and ")
            return "input size \(side) does not give whole feature-map sizes through this network; \(hint)"
        }
    }
}
