/// Spatial arithmetic of a network, one axis at a time (every operation of the schema treats the
/// axes independently): the side of every node for an input side, and the valid input sides.
extension UNetNetwork {
    /// Sides searched for valid inputs.
    public static let sideSearchLimit = 1 << 16

    /// The side of every node's output along `axis` for an input of side `input`, or nil when
    /// the input is not valid: a map would shrink to nothing, merged maps would not fit, or a
    /// crop would be uneven.
    public func sides(forInputSide input: Int, axis: Int) -> [Int]? {
        SideArithmetic(self, axis: axis).sides(forInputSide: input)
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
        let arithmetic = SideArithmetic(self, axis: axis)
        return (1...Self.sideSearchLimit).first { arithmetic.accepts($0) }
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
        let arithmetic = SideArithmetic(self, axis: axis)
        return (minimum...(minimum + span)).allSatisfy { arithmetic.accepts($0) }
    }

    /// Valid input sides along `axis` up to `limit`, ascending.
    public func validInputSides(axis: Int, upTo limit: Int) -> [Int] {
        guard limit >= 1 else { return [] }
        let arithmetic = SideArithmetic(self, axis: axis)
        return (1...min(limit, Self.sideSearchLimit)).filter { arithmetic.accepts($0) }
    }

    /// The valid input sides nearest to `side` along `axis`: the largest below or equal and the
    /// smallest above.
    public func nearestValidInputSides(to side: Int, axis: Int) -> (below: Int?, above: Int?) {
        let limit = Self.sideSearchLimit
        let arithmetic = SideArithmetic(self, axis: axis)
        let below =
            side >= 1 ? stride(from: min(side, limit), through: 1, by: -1).first { arithmetic.accepts($0) } : nil
        let above = side < limit ? (max(side + 1, 1)...limit).first { arithmetic.accepts($0) } : nil
        return (below, above)
    }

    /// A pooling window's output side (PyTorch's arithmetic, with ceil mode's last-window rule).
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

/// A network's arithmetic along one axis in plain integers, so that searching thousands of
/// input sides neither copies nodes nor allocates: one rule per node, its inputs' indices flat.
struct SideArithmetic {
    /// What a node does to the side `x` of its first input (the others are `inputs[1...]`).
    enum Rule {
        case input
        case sameConv(stride: Int)
        case conv(kernel: Int, stride: Int, dilation: Int, padding: Int)
        case sameConvTranspose(stride: Int)
        case convTranspose(kernel: Int, stride: Int, padding: Int, outputPadding: Int)
        case pool(kernel: Int, stride: Int, padding: Int, ceilMode: Bool)
        case scale(Int)
        case keep
        case one
        case equalInputs
        case gate
        case crop
        case padCentred
        case padReplicateEnd
    }

    private var rules: [Rule] = []
    /// Node i's inputs are `inputIndices[inputStart[i]..<inputStart[i + 1]]`.
    private var inputIndices: [Int] = []
    private var inputStart: [Int] = [0]

    init(_ network: UNetNetwork, axis: Int) {
        rules.reserveCapacity(network.nodes.count)
        for node in network.nodes {
            rules.append(Self.rule(for: node.operation, axis: axis))
            inputIndices += node.inputs
            inputStart.append(inputIndices.count)
        }
    }

    private static func rule(for operation: UNetNetwork.Operation, axis: Int) -> Rule {
        switch operation {
        case .input: .input
        case .conv(let conv):
            switch conv.padding {
            case .same: .sameConv(stride: conv.stride[axis])
            case .explicit(let padding):
                .conv(
                    kernel: conv.kernel[axis], stride: conv.stride[axis], dilation: conv.dilation[axis],
                    padding: padding[axis])
            }
        case .convTranspose(let conv):
            switch conv.padding {
            case .same: .sameConvTranspose(stride: conv.stride[axis])
            case .explicit(let padding):
                .convTranspose(
                    kernel: conv.kernel[axis], stride: conv.stride[axis], padding: padding[axis],
                    outputPadding: conv.outputPadding[axis])
            }
        case .maxPool(let pool), .avgPool(let pool):
            .pool(
                kernel: pool.kernel[axis], stride: pool.stride[axis], padding: pool.padding[axis],
                ceilMode: pool.ceilMode)
        case .interpolate(let interpolation): .scale(interpolation.scale[axis])
        case .norm, .activation, .dropout, .channelStatistic: .keep
        case .globalAveragePool: .one
        case .add, .concat: .equalInputs
        // The gate broadcasts when it has one position.
        case .multiply: .gate
        case .crop: .crop
        case .pad(.zeroCentred): .padCentred
        case .pad(.replicateEnd): .padReplicateEnd
        }
    }

    /// Whether `input` is a valid side.
    func accepts(_ input: Int) -> Bool {
        guard input >= 1 else { return false }
        return withUnsafeTemporaryAllocation(of: Int.self, capacity: rules.count) { evaluate(input, into: $0) }
    }

    /// Every node's side for `input`, or nil when it is not valid.
    func sides(forInputSide input: Int) -> [Int]? {
        guard input >= 1 else { return nil }
        var sides = [Int](repeating: 0, count: rules.count)
        return sides.withUnsafeMutableBufferPointer { evaluate(input, into: $0) } ? sides : nil
    }

    private func evaluate(_ input: Int, into sides: UnsafeMutableBufferPointer<Int>) -> Bool {
        for (node, rule) in rules.enumerated() {
            let first = inputStart[node]
            let count = inputStart[node + 1] - first
            let x = count > 0 ? sides[inputIndices[first]] : input
            func other(_ k: Int) -> Int { sides[inputIndices[first + k]] }
            let side: Int?
            switch rule {
            case .input: side = input
            case .sameConv(let s): side = (x + s - 1) / s
            case .conv(let k, let s, let d, let p):
                let span = x + 2 * p - d * (k - 1) - 1
                side = span >= 0 ? span / s + 1 : nil
            case .sameConvTranspose(let s): side = x * s
            case .convTranspose(let k, let s, let p, let extra):
                let value = (x - 1) * s - 2 * p + k + extra
                side = value >= 1 ? value : nil
            case .pool(let k, let s, let p, let ceilMode):
                side = UNetNetwork.poolSide(x, kernel: k, stride: s, padding: p, ceilMode: ceilMode)
            case .scale(let factor): side = x * factor
            case .keep: side = x
            case .one: side = 1
            case .equalInputs: side = (1..<max(count, 1)).allSatisfy { other($0) == x } ? x : nil
            case .gate: side = other(1) == x || other(1) == 1 ? x : nil
            case .crop:
                let difference = x - other(1)
                side = difference >= 0 && difference % 2 == 0 ? other(1) : nil
            case .padCentred: side = other(1) >= x ? other(1) : nil
            case .padReplicateEnd: side = (0...1).contains(other(1) - x) ? other(1) : nil
            }
            guard let side else { return false }
            sides[node] = side
        }
        return true
    }
}
