/// Spatial arithmetic of a network, one axis at a time (every operation of the schema treats the
/// axes independently): the side of every node for an input side, and the valid input sides.
extension UNetNetwork {
    /// Sides searched for valid inputs.
    public static let sideSearchLimit = 1 << 16

    /// The side of every node's output along `axis` for an input of side `input`, or nil when
    /// the input is not valid: a map would shrink to nothing, merged maps would not fit, or a
    /// crop would be uneven.
    public func sides(forInputSide input: Int, axis: Int) -> [Int]? {
        guard input >= 1 else { return nil }
        var sides: [Int] = []
        sides.reserveCapacity(nodes.count)
        for node in nodes {
            guard let side = Self.side(of: node.operation, axis: axis, inputs: node.inputs.map { sides[$0] }, input)
            else { return nil }
            sides.append(side)
        }
        return sides
    }

    /// The spatial size of node `node` (the default output when nil) for an input size (one side
    /// per axis), or nil when that input is not valid.
    public func outputSize(forInputSize size: [Int], node: Int? = nil) -> [Int]? {
        guard size.count == architecture.spatialDims else { return nil }
        var result: [Int] = []
        for (axis, side) in size.enumerated() {
            guard let sides = sides(forInputSide: side, axis: axis) else { return nil }
            result.append(sides[node ?? output])
        }
        return result
    }

    /// The smallest valid input side along `axis`, or nil when none exists below the search limit.
    public func minimumInputSide(axis: Int) -> Int? {
        (1...Self.sideSearchLimit).first { sides(forInputSide: $0, axis: axis) != nil }
    }

    /// The product of the down-sampling strides along `axis`: valid sides repeat with this period.
    public func period(axis: Int) -> Int {
        nodes.reduce(1) { product, node in
            switch node.operation {
            case .conv(let conv): product * conv.stride[axis]
            case .maxPool(let pool), .avgPool(let pool): product * pool.stride[axis]
            default: product
            }
        }
    }

    /// Whether every side from the minimum on is valid along `axis` (true for same-padding
    /// networks that pad to match).
    public func acceptsAnyInputSide(axis: Int) -> Bool {
        guard let minimum = minimumInputSide(axis: axis) else { return false }
        let span = min(2 * period(axis: axis), Self.sideSearchLimit)
        return (minimum...(minimum + span)).allSatisfy { sides(forInputSide: $0, axis: axis) != nil }
    }

    /// Valid input sides along `axis` up to `limit`, ascending.
    public func validInputSides(axis: Int, upTo limit: Int) -> [Int] {
        guard limit >= 1 else { return [] }
        return (1...min(limit, Self.sideSearchLimit)).filter { sides(forInputSide: $0, axis: axis) != nil }
    }

    /// The valid input sides nearest to `side` along `axis`: the largest below or equal and the
    /// smallest above.
    public func nearestValidInputSides(to side: Int, axis: Int) -> (below: Int?, above: Int?) {
        let limit = Self.sideSearchLimit
        let below =
            side >= 1
            ? stride(from: min(side, limit), through: 1, by: -1).first { sides(forInputSide: $0, axis: axis) != nil }
            : nil
        let above =
            side < limit ? (max(side + 1, 1)...limit).first { sides(forInputSide: $0, axis: axis) != nil } : nil
        return (below, above)
    }

    /// One operation's output side from its inputs' sides (`network` is the input's side).
    static func side(of operation: Operation, axis: Int, inputs: [Int], _ network: Int) -> Int? {
        let x = inputs.first ?? network
        switch operation {
        case .input: return network
        case .conv(let conv):
            let (k, s, d) = (conv.kernel[axis], conv.stride[axis], conv.dilation[axis])
            switch conv.padding {
            case .same: return (x + s - 1) / s
            case .explicit(let padding):
                let span = x + 2 * padding[axis] - d * (k - 1) - 1
                return span >= 0 ? span / s + 1 : nil
            }
        case .convTranspose(let conv):
            let (k, s) = (conv.kernel[axis], conv.stride[axis])
            switch conv.padding {
            case .same: return x * s
            case .explicit(let padding):
                let side = (x - 1) * s - 2 * padding[axis] + k + conv.outputPadding[axis]
                return side >= 1 ? side : nil
            }
        case .maxPool(let pool), .avgPool(let pool):
            return poolSide(
                x, kernel: pool.kernel[axis], stride: pool.stride[axis], padding: pool.padding[axis],
                ceilMode: pool.ceilMode)
        case .interpolate(let interpolation): return x * interpolation.scale[axis]
        case .norm, .activation, .dropout, .channelStatistic: return x
        case .globalAveragePool: return 1
        case .add, .concat:
            return inputs.allSatisfy { $0 == x } ? x : nil
        case .multiply:
            // The gate broadcasts when it has one position.
            return inputs[1] == x || inputs[1] == 1 ? x : nil
        case .crop:
            let (reference, difference) = (inputs[1], x - inputs[1])
            return difference >= 0 && difference % 2 == 0 ? reference : nil
        case .pad(.zeroCentred):
            return inputs[1] >= x ? inputs[1] : nil
        case .pad(.replicateEnd):
            return (0...1).contains(inputs[1] - x) ? inputs[1] : nil
        }
    }

    /// PyTorch's pooling output size (floor, or ceil with the last window starting inside).
    static func poolSide(_ x: Int, kernel: Int, stride: Int, padding: Int, ceilMode: Bool) -> Int? {
        let span = x + 2 * padding - kernel
        guard span >= 0 else { return nil }
        var side = (ceilMode ? (span + stride - 1) / stride : span / stride) + 1
        if ceilMode && (side - 1) * stride >= x + padding { side -= 1 }
        return side >= 1 ? side : nil
    }
}

extension UNetNetwork {
    /// Multiply-accumulates of the convolutions (direct, not Winograd) for one sample of an input
    /// size, nil when the size is not valid. Norms, activations, pooling and merges are not counted.
    public func multiplyAccumulates(forInputSize size: [Int]) -> Double? {
        guard size.count == architecture.spatialDims else { return nil }
        var perAxis: [[Int]] = []
        for (axis, side) in size.enumerated() {
            guard let sides = sides(forInputSide: side, axis: axis) else { return nil }
            perAxis.append(sides)
        }
        func volume(_ node: Int) -> Double { perAxis.reduce(1) { $0 * Double($1[node]) } }
        var total = 0.0
        for (index, node) in nodes.enumerated() {
            let input = node.inputs.first.map { nodes[$0].channels } ?? 0
            switch node.operation {
            case .conv(let conv):
                total += Double(conv.out * input / conv.groups * conv.kernel.reduce(1, *)) * volume(index)
            case .convTranspose(let conv):
                total += Double(conv.out / conv.groups * input * conv.kernel.reduce(1, *)) * volume(node.inputs[0])
            default: break
            }
        }
        return total
    }
}
