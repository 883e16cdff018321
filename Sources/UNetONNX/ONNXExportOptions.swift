import UNetCheckpoint

/// What an ONNX export writes besides the network itself.
public struct ONNXExportOptions: Sendable, Hashable {
    /// The operator sets the exporter emits correctly (the default domain `""`).
    public static let supportedOpsets: ClosedRange<Int> = 13...21
    /// The opset written when none is asked for.
    public static let defaultOpset = 17

    /// The version of the default ONNX operator set the model imports.
    public var opset: Int
    /// Fold BatchNorm into the preceding convolution's weight and bias (as the inference core
    /// does) instead of writing `BatchNormalization` nodes with the checkpoint's statistics.
    public var foldBatchNorm: Bool
    /// Also export every head besides the default output (deep supervision, other outputs) as
    /// extra graph outputs named after the head; when false the graph holds only what `output`
    /// needs (and the other heads' tensors are left out).
    public var otherHeads: Bool

    public init(opset: Int = ONNXExportOptions.defaultOpset, foldBatchNorm: Bool = false, otherHeads: Bool = true) {
        self.opset = opset
        self.foldBatchNorm = foldBatchNorm
        self.otherHeads = otherHeads
    }

    /// The lowest ONNX IR version that can carry `opset` (ONNX's own version table:
    /// opset 13–14 → IR 7, 15–18 → 8, 19–20 → 9, 21 → 10).
    public static func irVersion(forOpset opset: Int) -> Int {
        switch opset {
        case ...14: 7
        case 15...18: 8
        case 19...20: 9
        default: 10
        }
    }
}

/// Why a checkpoint cannot be exported as asked.
public struct ONNXExportError: UNetCkptError {
    public let message: String
    /// The ONNX file being written, when known.
    public let file: String?
    public var code: ErrorCode { .unsupported }
    public init(_ message: String, file: String? = nil) {
        self.message = message
        self.file = file
    }
}
