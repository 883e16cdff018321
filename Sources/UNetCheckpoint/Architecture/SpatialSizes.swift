/// Spatial sizes through the network (square inputs; rows and columns follow the same rule).
enum SpatialSizes {
    /// Sides searched for valid inputs.
    static let searchLimit = 1 << 16
}

extension UNetArchitecture {
    /// The output side for an input side, or nil when that side is not valid: a valid convolution
    /// would shrink a map to nothing, or a max-pool would see an odd side where the skip is cropped
    /// (the paper's rule: every 2×2 pool must see an even size).
    public func outputSide(forInputSide input: Int) -> Int? {
        guard input >= 1 else { return nil }
        let loss = conv.padding == .valid ? conv.kernel - 1 : 0
        var side = input
        var skips: [Int] = []
        for (level, entry) in encoder.enumerated() {
            side -= loss * entry.convs.count
            guard side >= 1 else { return nil }
            if level < depth {
                skips.append(side)
                if skip.merge == .crop && side % 2 != 0 { return nil }
                side /= 2
                guard side >= 1 else { return nil }
            }
        }
        for level in decoder.indices.reversed() {
            side *= 2
            let skipSide = skips[level]
            switch skip.merge {
            case .crop:
                guard skipSide >= side else { return nil }
            case .pad:
                guard skipSide >= side else { return nil }
                side = skipSide
            case .padReplicateEnd:
                guard skipSide >= side, skipSide - side <= 1 else { return nil }
                side = skipSide
            }
            side -= loss * decoder[level].convs.count
            guard side >= 1 else { return nil }
        }
        return side
    }

    /// The smallest valid input side, or nil when none exists below 65536.
    public var minimumInputSide: Int? {
        (1...SpatialSizes.searchLimit).first { outputSide(forInputSide: $0) != nil }
    }

    /// Whether every input side from the minimum on is valid (true for same-padding networks
    /// that pad to match).
    public var acceptsAnyInputSide: Bool {
        guard let minimum = minimumInputSide else { return false }
        return (minimum...(minimum + (1 << encoder.count))).allSatisfy { outputSide(forInputSide: $0) != nil }
    }

    /// Valid input sides up to `limit`, ascending.
    public func validInputSides(upTo limit: Int) -> [Int] {
        guard limit >= 1 else { return [] }
        return (1...min(limit, SpatialSizes.searchLimit)).filter { outputSide(forInputSide: $0) != nil }
    }

    /// The valid input sides nearest to `side`: the largest below or equal and the smallest above.
    public func nearestValidInputSides(to side: Int) -> (below: Int?, above: Int?) {
        let below =
            side >= 1
            ? stride(from: min(side, SpatialSizes.searchLimit), through: 1, by: -1)
                .first { outputSide(forInputSide: $0) != nil } : nil
        let above =
            side < SpatialSizes.searchLimit
            ? (max(side + 1, 1)...SpatialSizes.searchLimit)
                .first { outputSide(forInputSide: $0) != nil } : nil
        return (below, above)
    }
}
