/// How two tensors of one shape differ, element by element, computed in double precision after
/// widening both to float64 (docs/cli.md `diff` defines every number).
public struct TensorDifference: Encodable, Hashable, Sendable {
    public let key: String
    public let shape: [Int]
    public let dtypeA: DType
    public let dtypeB: DType
    public let elements: Int
    /// Elements that are not equal within the tolerance: `|a − b| > atol + rtol·|b|`, or a
    /// non-finite mismatch. NaN equals NaN and an infinity equals itself.
    public let changed: Int
    /// The largest `|a − b|` over elements finite on both sides (0 when there are none).
    public let maxAbs: Double
    /// The largest `|a − b| / |b|` over elements finite on both sides where `b ≠ 0`; nil when
    /// there are none.
    public let maxRel: Double?
    /// `a·b / (|a| |b|)` over elements finite on both sides; nil when either side is all zero there.
    public let cosine: Double?
    /// Positions where the two differ in a non-finite way: NaN against a number, or an infinity
    /// against anything but the same infinity.
    public let nonFinite: Int

    /// Compares two tensors of the same shape.
    public init(key: String, a: Tensor, b: Tensor, absoluteTolerance: Double = 0, relativeTolerance: Double = 0) {
        precondition(a.shape == b.shape, "tensors of one shape")
        self.key = key
        shape = a.shape
        dtypeA = a.dtype
        dtypeB = b.dtype
        elements = a.elementCount
        var nonFinite = 0
        var largest = LargestDifference(absoluteTolerance: absoluteTolerance, relativeTolerance: relativeTolerance)
        var dot = 0.0
        var normA = 0.0
        var normB = 0.0
        let valuesA = a.floatValues()
        let valuesB = b.floatValues()
        valuesA.withUnsafeBufferPointer { xs in
            valuesB.withUnsafeBufferPointer { ys in
                for index in 0..<xs.count {
                    let x = Double(xs[index])
                    let y = Double(ys[index])
                    guard x.isFinite && y.isFinite else {
                        if !(x == y || x.isNaN && y.isNaN) { nonFinite += 1 }
                        continue
                    }
                    largest.add(x, y)
                    dot += x * y
                    normA += x * x
                    normB += y * y
                }
            }
        }
        changed = largest.outside + nonFinite
        self.nonFinite = nonFinite
        maxAbs = largest.absolute
        maxRel = largest.relative
        cosine = normA > 0 && normB > 0 ? min(1, max(-1, dot / (normA * normB).squareRoot())) : nil
    }

    /// Whether every element is equal within the tolerance.
    public var withinTolerance: Bool { changed == 0 }
    /// Whether the values are exactly equal (the element types may still differ).
    public var valuesIdentical: Bool { maxAbs == 0 && nonFinite == 0 }
    public var dtypeDiffers: Bool { dtypeA != dtypeB }
    /// The share of elements not equal within the tolerance, in [0, 1].
    public var changedFraction: Double { elements == 0 ? 0 : Double(changed) / Double(elements) }

    enum CodingKeys: String, CodingKey {
        case key, shape, elements, changed, cosine
        case dtypeA = "dtype_a", dtypeB = "dtype_b", maxAbs = "max_abs", maxRel = "max_rel"
        case nonFinite = "non_finite", changedFraction = "changed_fraction"
    }

    /// Every field is written, `null` where a number is undefined.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(key, forKey: .key)
        try c.encode(shape, forKey: .shape)
        try c.encode(dtypeA, forKey: .dtypeA)
        try c.encode(dtypeB, forKey: .dtypeB)
        try c.encode(elements, forKey: .elements)
        try c.encode(changed, forKey: .changed)
        try c.encode(changedFraction, forKey: .changedFraction)
        try c.encode(maxAbs, forKey: .maxAbs)
        try c.encode(maxRel, forKey: .maxRel)
        try c.encode(cosine, forKey: .cosine)
        try c.encode(nonFinite, forKey: .nonFinite)
    }
}

/// The largest absolute and relative difference of values from the values they should be, and
/// how many lie outside a tolerance: the one measure behind `diff` (``TensorDifference``),
/// `convert --dtype`'s conversion error, `verify`'s probe and round trip.
public struct LargestDifference: Hashable, Sendable {
    /// The largest `|actual − expected|`; 0 when there are no values. A NaN difference is
    /// passed over, an infinite one counts.
    public private(set) var absolute = 0.0
    /// The largest `|actual − expected| / |expected|` where `expected ≠ 0`; nil when there is none.
    public private(set) var relative: Double?
    /// How many values are not within `absoluteTolerance + relativeTolerance·|expected|` (a NaN
    /// difference is not within).
    public private(set) var outside = 0
    public let absoluteTolerance: Double
    public let relativeTolerance: Double

    /// Nothing compared yet; ``add(_:_:)`` adds pairs.
    public init(absoluteTolerance: Double = 0, relativeTolerance: Double = 0) {
        self.absoluteTolerance = absoluteTolerance
        self.relativeTolerance = relativeTolerance
    }

    /// Compares `actual` with `expected`, value by value. Lists of different lengths are
    /// infinitely far apart (every value outside).
    public init(_ actual: [Float], _ expected: [Float], absoluteTolerance: Double = 0, relativeTolerance: Double = 0) {
        self.init(absoluteTolerance: absoluteTolerance, relativeTolerance: relativeTolerance)
        guard actual.count == expected.count else {
            absolute = .infinity
            relative = .infinity
            outside = max(actual.count, expected.count)
            return
        }
        actual.withUnsafeBufferPointer { xs in
            expected.withUnsafeBufferPointer { ys in
                for index in 0..<xs.count { add(Double(xs[index]), Double(ys[index])) }
            }
        }
    }

    /// Whether every value is within the tolerance.
    public var within: Bool { outside == 0 }

    /// Adds one value and the value it should be.
    public mutating func add(_ actual: Double, _ expected: Double) {
        let difference = abs(actual - expected)
        if difference > absolute { absolute = difference }
        if expected != 0 {
            let share = difference / abs(expected)
            if share > relative ?? -1 { relative = share }
        }
        if !(difference <= absoluteTolerance + relativeTolerance * abs(expected)) { outside += 1 }
    }
}
