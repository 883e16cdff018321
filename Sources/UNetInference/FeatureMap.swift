import UNetCheckpoint

/// A batch of feature maps with 1, 2 or 3 spatial axes, float32: `[N, C] + spatial` in row-major
/// order (NCW, NCHW or NCDHW).
public struct FeatureMap: Sendable, Equatable {
    public let batch: Int
    public let channels: Int
    /// The spatial sizes: `[W]`, `[H, W]` or `[D, H, W]`.
    public let spatial: [Int]
    /// The second-to-last spatial axis (1 for a map with one spatial axis).
    public let height: Int
    /// The last spatial axis.
    public let width: Int
    /// `batch × channels × spatial…` values, row-major.
    public var values: [Float]

    /// A map over the given values; `spatial` has 1 to 3 sizes. Preconditions (caller mistakes):
    /// the count of `values` matches the shape, and no size is negative.
    public init(batch: Int, channels: Int, spatial: [Int], values: [Float]) {
        precondition((1...3).contains(spatial.count), "a feature map has 1, 2 or 3 spatial axes")
        precondition(batch >= 0 && channels >= 0 && spatial.allSatisfy { $0 >= 0 }, "negative size")
        precondition(values.count == batch * channels * spatial.reduce(1, *), "values do not fit the shape")
        self.batch = batch
        self.channels = channels
        self.spatial = spatial
        self.height = spatial.count >= 2 ? spatial[spatial.count - 2] : 1
        self.width = spatial[spatial.count - 1]
        self.values = values
    }

    /// A map of zeros.
    public init(batch: Int, channels: Int, spatial: [Int]) {
        let zeros: [Float] = HugePages.array(count: batch * channels * spatial.reduce(1, *)) {
            $0.initialize(repeating: 0)
        }
        self.init(batch: batch, channels: channels, spatial: spatial, values: zeros)
    }

    /// A map whose values are not set: for a layer that writes every value, so no thread zeroes
    /// the memory first (its pages are first touched by the layer's own threads).
    init(uninitialized batch: Int, channels: Int, spatial: [Int]) {
        let values: [Float] = HugePages.array(count: batch * channels * spatial.reduce(1, *)) { _ in }
        self.init(batch: batch, channels: channels, spatial: spatial, values: values)
    }

    /// An NCHW map over the given values.
    public init(batch: Int, channels: Int, height: Int, width: Int, values: [Float]) {
        self.init(batch: batch, channels: channels, spatial: [height, width], values: values)
    }

    /// An NCHW map of zeros.
    public init(batch: Int, channels: Int, height: Int, width: Int) {
        self.init(batch: batch, channels: channels, spatial: [height, width])
    }

    /// `[batch, channels] + spatial`.
    public var shape: [Int] { [batch, channels] + spatial }
    /// Values per channel: the product of the spatial sizes (`height × width` for a 2-D map).
    var plane: Int { spatial.count == 2 ? height * width : spatial.reduce(1, *) }
    /// Values per sample.
    var sampleSize: Int { channels * plane }
    /// The spatial sizes as three, with leading 1s: `[D, H, W]`.
    var spatial3: [Int] { Array(repeating: 1, count: 3 - spatial.count) + spatial }
}
