-- One phase of tests/load/side-by-side.sh, for wrk: PHASE is create, filter, get, patch
-- or member; SEED_FILE holds "id userName" lines and one "group <id>" line.
local phase = os.getenv("PHASE")
local base = os.getenv("BASE_PATH")
local run = os.getenv("RUN")
local headers = {
  ["Authorization"] = "Bearer " .. os.getenv("TOKEN"),
  ["Content-Type"] = "application/scim+json",
}
local ids, names, group = {}, {}, nil
local n = 0

function init(args)
  for line in io.lines(os.getenv("SEED_FILE")) do
    local a, b = line:match("^(%S+) (%S+)$")
    if a == "group" then group = b elseif a then
      ids[#ids + 1] = a
      names[#names + 1] = b
    end
  end
  math.randomseed(os.time())
end

function request()
  n = n + 1
  local i = math.random(#ids)
  if phase == "create" then
    local name = string.format("wrk-%s-%d@contoso.com", run, n)
    local body = string.format(
      '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"%s",'
        .. '"name":{"givenName":"W","familyName":"%d"},"emails":[{"value":"%s","primary":true}],"active":true}',
      name, n, name)
    return wrk.format("POST", base .. "/Users", headers, body)
  elseif phase == "filter" then
    return wrk.format("GET", base .. "/Users?filter=userName%20eq%20%22" .. names[i] .. "%22", headers)
  elseif phase == "get" then
    return wrk.format("GET", base .. "/Users/" .. ids[i], headers)
  elseif phase == "patch" then
    local body = string.format(
      '{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],'
        .. '"Operations":[{"op":"replace","path":"title","value":"T %s %d"}]}', run, n)
    return wrk.format("PATCH", base .. "/Users/" .. ids[i], headers, body)
  elseif phase == "member" then
    local body = string.format(
      '{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],'
        .. '"Operations":[{"op":"add","path":"members","value":[{"value":"%s"}]}]}', ids[(n - 1) % #ids + 1])
    return wrk.format("PATCH", base .. "/Groups/" .. group, headers, body)
  end
end
