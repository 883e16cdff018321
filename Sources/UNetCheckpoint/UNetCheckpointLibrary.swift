/// Facts about this library.
public enum UNetCheckpointLibrary {
    /// The version of unet-ckpt, recorded in every file it writes.
    public static let version = "0.1.0"
    /// The `format` attribute value that marks a checkpoint.
    public static let formatName = "unet-ckpt"
}
