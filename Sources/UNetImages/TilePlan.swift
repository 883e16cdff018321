import UNetCheckpoint

/// How `predict` runs a network over an image when no `--tile` is given.
///
/// * **Valid-padding networks** (the paper's) lose a border, so the output covers the whole image
///   only with the overlap-tile strategy (mirror padding): always tiled. The tile is the training
///   tile recorded in the metadata (`training.tile_size`) when it is a valid input side, else the
///   valid side nearest 572 (the paper's); but never larger than needed: when a smaller valid side
///   already covers the whole image in one tile, the smallest such side.
/// * **Same-padding networks** run on the whole image when both sides are valid input sides and
///   the image has at most ``wholeImageLimit`` pixels; otherwise tiled, with the smallest valid
///   side of at least `min(512, 2 · longer side)` and the default halo of a quarter tile.
public enum TilePlan: Sendable, Equatable {
    case whole
    case tiled(tile: Int)

    /// The most pixels a same-padding network takes in one pass (1024 × 1024).
    public static let wholeImageLimit = 1024 * 1024
    /// The paper's tile side.
    public static let paperTile = 572

    /// The plan for an image of `height × width`, or nil when the network has no valid input side.
    public static func automatic(
        for network: UNetNetwork, metadata: CheckpointMetadata?, height: Int, width: Int
    ) -> TilePlan? {
        let longer = max(height, width)
        /// The output side of a square input of side `side`, when it is valid along both axes.
        func outputSide(_ side: Int) -> Int? {
            guard let size = network.outputSize(forInputSize: [side, side]), size[0] == size[1] else { return nil }
            return size[0]
        }
        guard network.architecture.spatialDims == 2,
            let minimum = (1...UNetNetwork.sideSearchLimit).first(where: { outputSide($0) != nil }),
            let minimumOutput = outputSide(minimum)
        else { return nil }
        if minimumOutput < minimum {
            var candidate: Int
            if let recorded = metadata?.training?.tileSize, outputSide(recorded) != nil {
                candidate = recorded
            } else {
                let nearest = network.nearestValidInputSides(to: paperTile, axis: 0)
                switch (nearest.below, nearest.above) {
                case (let below?, let above?): candidate = paperTile - below <= above - paperTile ? below : above
                case (let below?, nil): candidate = below
                case (nil, let above?): candidate = above
                case (nil, nil): return nil
                }
            }
            var side = minimum
            while side < candidate {
                if let output = outputSide(side), output >= longer { break }
                side += 1
            }
            return .tiled(tile: min(side, candidate))
        }
        if network.outputSize(forInputSize: [height, width]) != nil, height * width <= wholeImageLimit {
            return .whole
        }
        let wanted = min(512, 2 * longer)
        if outputSide(wanted) != nil { return .tiled(tile: wanted) }
        return ((wanted + 1)...UNetNetwork.sideSearchLimit).first { outputSide($0) != nil }.map { .tiled(tile: $0) }
    }
}
