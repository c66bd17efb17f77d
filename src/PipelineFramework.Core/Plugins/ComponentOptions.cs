using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using PipelineFramework.Abstractions;

namespace PipelineFramework.Core.Plugins;

/// <summary>Options records from JSON: camelCase names, unknown names refused, types checked, then the record's own validation.</summary>
public static class ComponentOptions
{
    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase, allowIntegerValues: false) },
        WriteIndented = true,
        // NaN and infinity (set from C#: typed options, spec records) are written as "NaN" / "Infinity" and read back, so
        // the range check refuses them with their JSON path and range, as it does any other value out of range.
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    static readonly JsonSerializerOptions CompactJson = new(Json) { WriteIndented = false };

    public static IReadOnlyList<OptionInfo> Describe(Type optionsType)
    {
        object? defaults = null;
        try { defaults = Activator.CreateInstance(optionsType); } catch (MissingMethodException) { }
        return Properties(optionsType)
            .Select(p => new OptionInfo(JsonName(p), p.PropertyType,
                defaults is null ? "" : JsonSerializer.Serialize(p.GetValue(defaults), p.PropertyType, CompactJson))
            {
                Range = p.GetCustomAttribute<OptionRangeAttribute>(),
                Choices = ChoicesOf(p.PropertyType),
                Searchable = p.GetCustomAttribute<NotSearchedAttribute>() is null
                    && (p.GetCustomAttribute<OptionRangeAttribute>() is not null || ChoicesOf(p.PropertyType).Count > 0),
            })
            .ToList();
    }

    static IEnumerable<PropertyInfo> Properties(Type optionsType) =>
        optionsType.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.CanWrite && p.GetCustomAttribute<JsonIgnoreAttribute>() is null);

    static IReadOnlyList<string> ChoicesOf(Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        if (type == typeof(bool)) return ["false", "true"];
        return type.IsEnum ? Enum.GetNames(type).Select(n => JsonNamingPolicy.CamelCase.ConvertName(n)).ToList() : [];
    }

    /// <summary>
    /// Every <see cref="OptionRangeAttribute"/> of a parsed options object (or spec section), checked in one place: a
    /// number outside its range, NaN or infinity names its JSON path and the range. Lists are checked element-wise.
    /// </summary>
    public static void CheckRanges(object options, string jsonPath)
    {
        foreach (var property in Properties(options.GetType()))
        {
            if (property.GetCustomAttribute<OptionRangeAttribute>() is not { } range) continue;
            var value = property.GetValue(options);
            var values = value switch
            {
                null => [],
                System.Collections.IEnumerable list and not string => list.Cast<object>().Select(Convert.ToDouble).ToArray(),
                _ => [Convert.ToDouble(value, System.Globalization.CultureInfo.InvariantCulture)],
            };
            foreach (var v in values)
            {
                if (!range.Contains(v))
                    throw new PipelineException($"{jsonPath}.{JsonName(property)}: {v.ToString("G6", System.Globalization.CultureInfo.InvariantCulture)} is out of range; " +
                        $"allowed {range.Describe()}");
            }
        }
    }

    static string JsonName(PropertyInfo p) => p.GetCustomAttribute<JsonPropertyNameAttribute>()?.Name ?? JsonNamingPolicy.CamelCase.ConvertName(p.Name);

    /// <summary>Parses and validates; every problem names its JSON path.</summary>
    public static object? Parse(ComponentDescriptor descriptor, JsonObject options, string jsonPath)
    {
        if (descriptor.OptionsType is null)
        {
            if (options.Count > 0)
                throw new PipelineException($"{jsonPath}.{options.First().Key}: '{descriptor.TypeName}' takes no options");
            return null;
        }
        var known = descriptor.Options.ToDictionary(o => o.Name, StringComparer.Ordinal);
        foreach (var (key, _) in options)
        {
            if (!known.ContainsKey(key))
            {
                var hint = known.Keys.FirstOrDefault(k => string.Equals(k, key, StringComparison.OrdinalIgnoreCase));
                throw new PipelineException($"{jsonPath}.{key}: unknown option for '{descriptor.TypeName}'" +
                    (hint is null ? "" : $" (did you mean '{hint}'?)") + $"; known options: {string.Join(", ", known.Keys)}");
            }
        }
        RefuseNulls(options, descriptor.OptionsType, jsonPath);
        object parsed;
        try
        {
            parsed = options.Deserialize(descriptor.OptionsType, Json)
                ?? throw new PipelineException($"{jsonPath}: options must be a JSON object");
        }
        catch (JsonException e)
        {
            var path = e.Path is { Length: > 1 } p ? jsonPath + p[1..] : jsonPath;
            var name = e.Path?.TrimStart('$', '.').Split('.', '[')[0];
            var expected = name is not null && known.TryGetValue(name, out var info) ? $"expected {DescribeType(info.Type)}" : "wrong value type";
            throw new PipelineException($"{path}: {expected}");
        }
        CheckRanges(parsed, jsonPath);
        if (parsed is IValidatableOptions validatable)
        {
            var errors = validatable.Validate().ToList();
            if (errors.Count > 0)
                throw new PipelineException(string.Join("; ", errors.Select(e => $"{jsonPath}.{e.Option}: {e.Message}")));
        }
        return parsed;
    }

    /// <summary>
    /// A JSON <c>null</c> where the option cannot hold one (a list, a string, a number), or as an item of such a list, is
    /// refused here with its path. The serializer would store the null in a property the component's code trusts to be
    /// set, and the first use (Validate, or the work) would fail with a NullReferenceException instead of a clear line.
    /// Options declared nullable (<c>string?</c>, <c>int?</c>) take null as "not set". Used for every component's
    /// options and for the pipeline's own sections (input, map, calibration).
    /// </summary>
    public static void RefuseNulls(JsonObject options, Type optionsType, string jsonPath)
    {
        var nullability = new NullabilityInfoContext();
        var properties = Properties(optionsType).ToDictionary(JsonName, StringComparer.Ordinal);
        foreach (var (key, value) in options)
        {
            // An unknown key is refused by the caller, with the known ones listed.
            if (!properties.TryGetValue(key, out var property)) continue;
            var info = nullability.Create(property);
            if (value is null)
            {
                if (info.WriteState != NullabilityState.Nullable)
                    throw new PipelineException($"{jsonPath}.{key}: null is not allowed; give {DescribeType(property.PropertyType)} or leave the key out for the default");
                continue;
            }
            if (value is not JsonArray items) continue;
            var element = info.ElementType ?? (info.GenericTypeArguments.Length == 1 ? info.GenericTypeArguments[0] : null);
            if (element is null || element.WriteState == NullabilityState.Nullable) continue;
            for (int i = 0; i < items.Count; i++)
                if (items[i] is null)
                    throw new PipelineException($"{jsonPath}.{key}[{i}]: null is not allowed in this list; give {DescribeType(element.Type)}");
        }
    }

    public static string DescribeType(Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        if (type == typeof(int) || type == typeof(long)) return "a whole number";
        if (type == typeof(double) || type == typeof(float)) return "a number";
        if (type == typeof(bool)) return "true or false";
        if (type == typeof(string)) return "a string";
        if (type.IsEnum) return "one of " + string.Join(", ", Enum.GetNames(type).Select(n => $"\"{JsonNamingPolicy.CamelCase.ConvertName(n)}\""));
        if (type.IsArray || (type.IsGenericType && type.GetInterfaces().Any(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IEnumerable<>))))
        {
            var element = type.IsArray ? type.GetElementType()! : type.GetGenericArguments()[0];
            return $"a list of {DescribeType(element).Replace("a ", "").Replace("one of", "values from")}s";
        }
        return $"an object ({type.Name})";
    }
}
