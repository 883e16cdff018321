import UNetImages
import UNetInference

/// What `predict` is asked to do: the input, the outputs to write and how to run the network.
public struct PredictionRequest: Sendable {
    /// The input: an image (PNG, TIFF), a volume (NIfTI, a TIFF stack for a 3-D network) or an
    /// array (`.npy`).
    public var input: String
    /// The mask (`.png`, `.tif`, `.nii`, `.nii.gz`) or the raw network output (`.npy`).
    public var output: String?
    /// The class probabilities (`.tif`, `.nii`, `.nii.gz`, `.npy`).
    public var probabilities: String?
    /// The mask blended over the input image (`.png`, `.tif`).
    public var overlay: String?
    /// The input normalisation instead of the checkpoint's.
    public var normalization: Normalization?
    /// For sigmoid heads: the probability above which a pixel is foreground (default 0.5).
    public var threshold: Double?
    /// Whether `.npy` arrays (in and out) are NHWC rather than NCHW.
    public var channelsLast = false
    /// The input side of overlapping tiles (the paper's overlap-tile); excludes sliding windows.
    public var tile: Int?
    /// With `tile` on a same-padding network: pixels discarded on each side of a tile.
    public var halo: Int?
    /// Sliding-window settings; each one left nil is the checkpoint framework's. A window of
    /// one side is that side along every spatial axis.
    public var sliding = SlidingWindow.Choices()
    /// The axis order NIfTI volumes are read in; nil: the checkpoint's framework's.
    public var axisOrder: VolumeAxisOrder?
    /// Threads for the whole prediction; nil: every core.
    public var threads: Int?
    /// How messages name the checkpoint (its path).
    public var checkpointName: String

    /// A request to run `checkpointName`'s network on `input`; set the outputs to write.
    public init(input: String, checkpointName: String) {
        self.input = input
        self.checkpointName = checkpointName
    }
}

/// How far a prediction has come: `done` of `total` units (`tiles`, `windows`, `pages`). A
/// count that reaches its total ends that count; another may follow (one per page of windows).
public struct PredictionProgress: Sendable, Equatable {
    public let done: Int
    public let total: Int
    public let unit: String

    public init(done: Int, total: Int, unit: String) {
        self.done = done
        self.total = total
        self.unit = unit
    }
}
