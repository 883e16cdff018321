import UNetCheckpoint

/// A batch of feature maps in NCHW order, float32.
public struct FeatureMap: Sendable, Equatable {
    public let batch: Int
    public let channels: Int
    public let height: Int
    public let width: Int
    /// `batch × channels × height × width` values, row-major.
    public var values: [Float]

    public init(batch: Int, channels: Int, height: Int, width: Int, values: [Float]) {
        precondition(values.count == batch * channels * height * width, "values do not fit the shape")
        self.batch = batch
        self.channels = channels
        self.height = height
        self.width = width
        self.values = values
    }

    /// A map of zeros.
    public init(batch: Int, channels: Int, height: Int, width: Int) {
        let zeros: [Float] = HugePages.array(count: batch * channels * height * width) {
            $0.initialize(repeating: 0)
        }
        self.init(batch: batch, channels: channels, height: height, width: width, values: zeros)
    }

    /// `[batch, channels, height, width]`.
    public var shape: [Int] { [batch, channels, height, width] }
    /// Values per channel plane.
    var plane: Int { height * width }
    /// Values per sample.
    var sampleSize: Int { channels * height * width }
}
