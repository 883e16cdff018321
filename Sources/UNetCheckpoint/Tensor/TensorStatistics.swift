/// Summary statistics of a tensor's finite values, and counts of the non-finite ones.
public struct TensorStatistics: Codable, Hashable, Sendable {
    public let min: Double?
    public let max: Double?
    public let mean: Double?
    /// Population standard deviation.
    public let std: Double?
    public let nanCount: Int
    public let infinityCount: Int

    /// Computes the statistics in one pass (Welford's method, in double precision).
    public init(_ tensor: Tensor) {
        var count = 0
        var mean = 0.0
        var squares = 0.0
        var low = Double.infinity
        var high = -Double.infinity
        var nans = 0
        var infinities = 0
        for value in tensor.floatValues() {
            if value.isNaN {
                nans += 1
                continue
            }
            if value.isInfinite {
                infinities += 1
                continue
            }
            let x = Double(value)
            count += 1
            let delta = x - mean
            mean += delta / Double(count)
            squares += delta * (x - mean)
            low = Swift.min(low, x)
            high = Swift.max(high, x)
        }
        self.min = count > 0 ? low : nil
        self.max = count > 0 ? high : nil
        self.mean = count > 0 ? mean : nil
        self.std = count > 0 ? (squares / Double(count)).squareRoot() : nil
        nanCount = nans
        infinityCount = infinities
    }

    enum CodingKeys: String, CodingKey {
        case min, max, mean, std
        case nanCount = "nan_count", infinityCount = "inf_count"
    }
}
