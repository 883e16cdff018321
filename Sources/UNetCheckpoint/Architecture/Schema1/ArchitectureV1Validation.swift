extension ArchitectureV1 {
    /// Limits that keep every derived size and allocation bounded.
    public enum Limits {
        public static let levels = 2...11
        public static let channels = 1...65536
        public static let convsPerLevel = 1...8
        public static let kernel = 1...7
        /// At most 2^36 values (256 GiB of float32): more is a corrupt or hostile description.
        public static let parameters = 1 << 36
    }

    /// Checks the schema 1.0 description: ranges, required fields and channel arithmetic (sizes and
    /// the parameter bound are checked on the migrated 2.0 form). Throws every problem found at once.
    public func validate() throws(ArchitectureError) {
        var problems: [String] = []
        func require(_ condition: Bool, _ message: @autoclosure () -> String) {
            if !condition { problems.append(message()) }
        }
        func requireChannels(_ value: Int, _ field: String) {
            require(Limits.channels.contains(value), "\(field) = \(value) is outside \(Limits.channels)")
        }

        requireChannels(inChannels, "in_channels")
        requireChannels(outChannels, "out_channels")
        require(Limits.levels.contains(encoder.count), "encoder has \(encoder.count) levels, expected \(Limits.levels)")
        require(
            decoder.count == encoder.count - 1,
            "decoder has \(decoder.count) levels, expected one less than the encoder's \(encoder.count)")
        for (level, entry) in encoder.enumerated() {
            require(
                Limits.convsPerLevel.contains(entry.convs.count),
                "encoder[\(level)].convs has \(entry.convs.count) entries, expected \(Limits.convsPerLevel)")
            for (index, width) in entry.convs.enumerated() {
                requireChannels(width, "encoder[\(level)].convs[\(index)]")
            }
        }
        for (level, entry) in decoder.enumerated() {
            require(
                Limits.convsPerLevel.contains(entry.convs.count),
                "decoder[\(level)].convs has \(entry.convs.count) entries, expected \(Limits.convsPerLevel)")
            requireChannels(entry.upChannels, "decoder[\(level)].up_channels")
            for (index, width) in entry.convs.enumerated() {
                requireChannels(width, "decoder[\(level)].convs[\(index)]")
            }
        }
        require(
            Limits.kernel.contains(conv.kernel) && conv.kernel % 2 == 1,
            "conv.kernel = \(conv.kernel) must be odd and within \(Limits.kernel)")
        switch norm.kind {
        case .none: break
        case .batch, .instance:
            require(
                norm.eps.map { $0.isFinite && $0 > 0 } ?? false,
                "norm.eps must be a positive number for \(norm.kind.rawValue)")
        }
        if activation.kind == .leakyReLU {
            require(activation.negativeSlope?.isFinite ?? false, "activation.negative_slope is required for leaky_relu")
        }
        require(downsample.size == 2, "downsample.size = \(downsample.size): only 2 is defined")
        switch upsample.kind {
        case .transposedConv:
            require(upsample.kernel == 2, "upsample.kernel must be 2 for transposed_conv")
            require(upsample.convKernel == nil, "upsample.conv_kernel does not apply to transposed_conv")
        case .bilinear, .nearest:
            if upsample.kind == .bilinear {
                require(upsample.alignCorners != nil, "upsample.align_corners is required for bilinear")
            }
            if let k = upsample.convKernel {
                require(Limits.kernel.contains(k), "upsample.conv_kernel = \(k) is outside \(Limits.kernel)")
            }
        }
        for (index, extra) in head.convs.enumerated() {
            requireChannels(extra.channels, "head.convs[\(index)].channels")
            require(
                Limits.kernel.contains(extra.kernel) && extra.kernel % 2 == 1,
                "head.convs[\(index)].kernel = \(extra.kernel) must be odd and within \(Limits.kernel)")
        }
        let blocks = Set(encoder.indices.map { "encoder.\($0)" } + decoder.indices.map { "decoder.\($0)" })
        for (index, entry) in dropout.enumerated() {
            require(blocks.contains(entry.after), "dropout[\(index)].after = \"\(entry.after)\" names no level")
            require(entry.rate >= 0 && entry.rate < 1, "dropout[\(index)].rate = \(entry.rate) is outside [0, 1)")
        }
        guard problems.isEmpty else { throw ArchitectureError(problems: problems) }

        // Channel arithmetic: a bare interpolation keeps the channels it receives.
        let plan = channelPlan
        if !upsample.hasConvolution {
            for (level, entry) in decoder.enumerated() where entry.upChannels != plan.decoderBelow[level] {
                problems.append(
                    "decoder[\(level)].up_channels = \(entry.upChannels), but \(upsample.kind.rawValue) without a conv "
                        + "keeps the \(plan.decoderBelow[level]) channels arriving from below")
            }
        }
        guard problems.isEmpty else { throw ArchitectureError(problems: problems) }
    }
}
